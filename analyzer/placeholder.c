#include <stdio.h>
#include "commands.h"
int cmd_analyze(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "gilscope analyze: not built yet\n"); return 1; }
int cmd_summary(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "gilscope summary: not built yet\n"); return 1; }
