"""gilscope's HTML report: reads an analyzed run database (analyzer/schema.sql)
and writes one self-contained page with Beazley's GIL diagram for Python 3.

data.py turns the database into a page model (plain dicts, JSON-ready, with
the timeline packed into compact binary columns); render.py turns the model
into HTML; __main__.py is the `gilscope report` command line.
"""

__all__ = ["data", "render"]
