/* Subcommands other than the stage itself. */
#ifndef LTV_TOOLS_H
#define LTV_TOOLS_H

int ltv_broker_main(int argc, char **argv);
int ltv_demo_main(int argc, char **argv);
/* `ltvstream table`: an output topic read as a table (tools/table.c). */
int ltv_table_main(int argc, char **argv);

#endif
