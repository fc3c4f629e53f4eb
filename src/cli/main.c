/* main.c - the telltale command (placeholder until the CLI lands). */
#include <stdio.h>
int main(void)
{
    puts("telltale");
    return 0;
}
