/* The horizon of a flight-recorder snapshot. Each CPU's ring buffer keeps
 * its own last SIZE bytes, so a busy CPU's events reach back less far
 * than an idle one's: before the latest of the streams' beginnings the
 * trace has holes (a thread's acquire lost on one CPU, its release kept
 * on another). babeltrace2's "babeltrace.trace-infos" query gives each
 * stream's time range without decoding the events. */
#include "horizon.h"

#include <babeltrace2/babeltrace.h>
#include <stdio.h>

/* The latest stream beginning of one trace directory into *horizon. */
static enum gs_status dir_horizon(const bt_component_class_source *fs, const char *dir,
				  int64_t *horizon, char *err, size_t len)
{
	bt_value *params = bt_value_map_create(), *inputs = NULL;
	bt_query_executor *q = NULL;
	const bt_value *res = NULL;
	enum gs_status status = GS_ERR_NOMEM;

	if (!params || bt_value_map_insert_empty_array_entry(params, "inputs", &inputs) ||
	    bt_value_array_append_string_element(inputs, dir)) {
		snprintf(err, len, "out of memory");
		goto end;
	}
	status = GS_ERR_INPUT;
	q = bt_query_executor_create(bt_component_class_source_as_component_class_const(fs),
				     "babeltrace.trace-infos", params);
	if (!q || bt_query_executor_query(q, &res) != BT_QUERY_EXECUTOR_QUERY_STATUS_OK ||
	    !bt_value_is_array(res)) {
		snprintf(err, len, "%s: babeltrace2 cannot tell the streams' time ranges", dir);
		goto end;
	}
	for (uint64_t t = 0; t < bt_value_array_get_length(res); t++) {
		const bt_value *ti = bt_value_array_borrow_element_by_index_const(res, t);
		const bt_value *sis = bt_value_map_borrow_entry_value_const(ti, "stream-infos");
		for (uint64_t s = 0; sis && s < bt_value_array_get_length(sis); s++) {
			const bt_value *si = bt_value_array_borrow_element_by_index_const(sis, s);
			const bt_value *range = bt_value_map_borrow_entry_value_const(si, "range-ns");
			const bt_value *begin = range ? bt_value_map_borrow_entry_value_const(range, "begin") : NULL;
			if (begin && bt_value_is_signed_integer(begin) &&
			    bt_value_integer_signed_get(begin) > *horizon)
				*horizon = bt_value_integer_signed_get(begin);
		}
	}
	status = GS_OK;
end:
	bt_current_thread_clear_error();
	bt_value_put_ref(res);
	bt_query_executor_put_ref(q);
	bt_value_put_ref(params);
	return status;
}

enum gs_status trace_horizon(const char *const *dirs, size_t n, int64_t *horizon, char *err,
			     size_t len)
{
	const bt_plugin *ctf = NULL;
	const bt_component_class_source *fs = NULL;
	enum gs_status status = GS_ERR_INPUT;

	*horizon = INT64_MIN; /* GS_UNKNOWN: no stream */
	if (bt_plugin_find("ctf", BT_TRUE, BT_TRUE, BT_TRUE, BT_TRUE, BT_TRUE, &ctf) ==
	    BT_PLUGIN_FIND_STATUS_OK)
		fs = bt_plugin_borrow_source_component_class_by_name_const(ctf, "fs");
	if (!fs) {
		bt_current_thread_clear_error();
		snprintf(err, len, "cannot find babeltrace2's ctf plugin (is the babeltrace2 package complete?)");
		goto end;
	}
	for (size_t i = 0; i < n; i++)
		if ((status = dir_horizon(fs, dirs[i], horizon, err, len)) != GS_OK)
			goto end;
	status = GS_OK;
end:
	bt_plugin_put_ref(ctf);
	return status;
}
