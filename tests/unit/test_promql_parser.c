/*
 * test_promql_parser.c - the PromQL parser against Prometheus's behaviour:
 * tables of queries with the text Prometheus prints for them, and of bad
 * queries with the exact error Prometheus reports (cases taken from the
 * situations Prometheus's parse_test.go covers, plus our own), then round
 * trips, tree shapes the engine relies on, nesting limits and the selector
 * entry point.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "telltale.h"
#include "core/buf.h"
#include "query/promql/functions.h"
#include "query/promql/parser.h"

struct ok_case {
    const char *in;
    const char *out;
};

struct err_case {
    const char *in;
    const char *msg;
};

static const struct ok_case ok_cases[] = {
    { "1", "1" },
    { "+Inf", "+Inf" },
    { "-Inf", "-Inf" },
    { ".5", "0.5" },
    { "5.", "5" },
    { "123.4567", "123.4567" },
    { "5e-3", "0.005" },
    { "5e3", "5000" },
    { "0xc", "12" },
    { "0755", "493" },
    { "+5.5e-3", "0.0055" },
    { "-0755", "-493" },
    { "1 + 1", "1 + 1" },
    { "1 - 1", "1 - 1" },
    { "1 * 1", "1 * 1" },
    { "1 % 1", "1 % 1" },
    { "1 / 1", "1 / 1" },
    { "1 == bool 1", "1 == bool 1" },
    { "1 != bool 1", "1 != bool 1" },
    { "1 > bool 1", "1 > bool 1" },
    { "1 >= bool 1", "1 >= bool 1" },
    { "1 < bool 1", "1 < bool 1" },
    { "1 <= bool 1", "1 <= bool 1" },
    { "-1^2", "-1 ^ 2" },
    { "-1*2", "-1 * 2" },
    { "-1+2", "-1 + 2" },
    { "-1^-2", "-1 ^ -2" },
    { "+1 + -2 * 1", "1 + -2 * 1" },
    { "1 + 2/(3*1)", "1 + 2 / (3 * 1)" },
    { "1 < bool 2 - 1 * 2", "1 < bool 2 - 1 * 2" },
    { "-some_metric", "-some_metric" },
    { "+some_metric", "+some_metric" },
    { " +some_metric", "+some_metric" },
    { " +{\"some_metric\"}", "+{__name__=\"some_metric\"}" },
    { "offset{step=\"1s\"}[5m]", "offset{step=\"1s\"}[5m]" },
    { "step{offset=\"1s\"}[5m]", "step{offset=\"1s\"}[5m]" },
    { "anchored{job=\"test\"}", "anchored{job=\"test\"}" },
    { "smoothed{job=\"test\"}", "smoothed{job=\"test\"}" },
    { "foo * bar", "foo * bar" },
    { "foo * sum", "foo * sum" },
    { "foo == 1", "foo == 1" },
    { "foo == bool 1", "foo == bool 1" },
    { "2.5 / bar", "2.5 / bar" },
    { "foo and bar", "foo and bar" },
    { "foo or bar", "foo or bar" },
    { "foo unless bar", "foo unless bar" },
    { "foo + bar or bla and blub", "foo + bar or bla and blub" },
    { "foo and bar unless baz or qux", "foo and bar unless baz or qux" },
    { "bar + on(foo) bla / on(baz, buz) group_right(test) blub",
      "bar + on (foo) bla / on (baz, buz) group_right (test) blub" },
    { "foo * on(test,blub) bar", "foo * on (test, blub) bar" },
    { "foo * on(test,blub) group_left bar", "foo * on (test, blub) group_left () bar" },
    { "foo and on(test,blub) bar", "foo and on (test, blub) bar" },
    { "foo and on() bar", "foo and on () bar" },
    { "foo and ignoring(test,blub) bar", "foo and ignoring (test, blub) bar" },
    { "foo and ignoring() bar", "foo and bar" },
    { "foo unless on(bar) baz", "foo unless on (bar) baz" },
    { "foo / on(test,blub) group_left(bar) bar", "foo / on (test, blub) group_left (bar) bar" },
    { "foo / ignoring(test,blub) group_left(blub) bar",
      "foo / ignoring (test, blub) group_left (blub) bar" },
    { "foo / ignoring(test,blub) group_left(bar) bar",
      "foo / ignoring (test, blub) group_left (bar) bar" },
    { "foo - on(test,blub) group_right(bar,foo) bar",
      "foo - on (test, blub) group_right (bar, foo) bar" },
    { "foo - ignoring(test,blub) group_right(bar,foo) bar",
      "foo - ignoring (test, blub) group_right (bar, foo) bar" },
    { "foo", "foo" },
    { "min", "min" },
    { "foo offset 5m", "foo offset 5m" },
    { "foo offset -7m", "foo offset -7m" },
    { "foo OFFSET 1h30m", "foo offset 1h30m" },
    { "foo OFFSET 1m30ms", "foo offset 1m30ms" },
    { "foo @ 1603774568", "foo @ 1603774568.000" },
    { "foo @ -100", "foo @ -100.000" },
    { "foo @ .3", "foo @ 0.300" },
    { "foo @ 3.", "foo @ 3.000" },
    { "foo @ 3.33", "foo @ 3.330" },
    { "foo @ 3e2", "foo @ 300.000" },
    { "foo @ 3e-1", "foo @ 0.300" },
    { "foo @ 0xA", "foo @ 10.000" },
    { "foo @ -3.3e1", "foo @ -33.000" },
    { "foo:bar{a=\"bc\"}", "foo:bar{a=\"bc\"}" },
    { "{\"foo\"}", "{__name__=\"foo\"}" },
    { "{'foo\\'bar', 'a\\\\dos\\\\path'='boo\\\\urns'}",
      "{\"a\\\\dos\\\\path\"=\"boo\\\\urns\",__name__=\"foo'bar\"}" },
    { "{\"foo\", a=\"bc\"}", "{__name__=\"foo\",a=\"bc\"}" },
    { "foo{NaN='bc'}", "foo{NaN=\"bc\"}" },
    { "foo{bar='}'}", "foo{bar=\"}\"}" },
    { "foo{a=\"b\", foo!=\"bar\", test=~\"test\", bar!~\"baz\"}",
      "foo{a=\"b\",bar!~\"baz\",foo!=\"bar\",test=~\"test\"}" },
    { "{a=\"b\", foo!=\"bar\", \"foo\", test=~\"test\", bar!~\"baz\"}",
      "{__name__=\"foo\",a=\"b\",bar!~\"baz\",foo!=\"bar\",test=~\"test\"}" },
    { "foo{a=\"b\", foo!=\"bar\", test=~\"test\", bar!~\"baz\",}",
      "foo{a=\"b\",bar!~\"baz\",foo!=\"bar\",test=~\"test\"}" },
    { "{__name__=~\"bar\", __name__!~\"baz\"}", "{__name__!~\"baz\",__name__=~\"bar\"}" },
    { "{__name__=\"bar\", __name__=\"baz\"}", "{__name__=\"bar\",__name__=\"baz\"}" },
    { "{\"bar\", __name__=\"baz\"}", "{__name__=\"bar\",__name__=\"baz\"}" },
    { "test[1000ms]", "test[1s]" },
    { "test[1001ms]", "test[1s1ms]" },
    { "test[1002ms]", "test[1s2ms]" },
    { "test[5s]", "test[5s]" },
    { "test[5m]", "test[5m]" },
    { "foo[5m30s]", "foo[5m30s]" },
    { "test[5h] OFFSET 5m", "test[5h] offset 5m" },
    { "test[5d] OFFSET 10s", "test[5d] offset 10s" },
    { "test[5w] offset 2w", "test[5w] offset 2w" },
    { "test{a=\"b\"}[5y] OFFSET 3d", "test{a=\"b\"}[5y] offset 3d" },
    { "test{a=\"b\"}[5m] OFFSET 3600", "test{a=\"b\"}[5m] offset 1h" },
    { "foo[3ms] @ 2.345", "foo[3ms] @ 2.345" },
    { "foo[4s180ms] @ 2.345", "foo[4s180ms] @ 2.345" },
    { "foo[4.18] @ 2.345", "foo[4s180ms] @ 2.345" },
    { "foo[4s18ms] @ 2.345", "foo[4s18ms] @ 2.345" },
    { "foo[4.018] @ 2.345", "foo[4s18ms] @ 2.345" },
    { "test{a=\"b\"}[5y] @ 1603774699", "test{a=\"b\"}[5y] @ 1603774699.000" },
    { "test[5]", "test[5s]" },
    { "some_metric[5m] @ 1m", "some_metric[5m] @ 60.000" },
    { "sum by (foo)(some_metric)", "sum by (foo) (some_metric)" },
    { "sum by (anchored)(some_metric)", "sum by (anchored) (some_metric)" },
    { "sum by (smoothed)(some_metric)", "sum by (smoothed) (some_metric)" },
    { "sum by (\"foo bar\")({\"some.metric\"})",
      "sum by (\"foo bar\") ({__name__=\"some.metric\"})" },
    { "sum by (\"foo\", bar, 'baz')({\"some.metric\"})",
      "sum by (foo, bar, baz) ({__name__=\"some.metric\"})" },
    { "avg by (foo)(some_metric)", "avg by (foo) (some_metric)" },
    { "max by (foo)(some_metric)", "max by (foo) (some_metric)" },
    { "sum without (foo) (some_metric)", "sum without (foo) (some_metric)" },
    { "sum (some_metric) without (foo)", "sum without (foo) (some_metric)" },
    { "stddev(some_metric)", "stddev(some_metric)" },
    { "stdvar by (foo)(some_metric)", "stdvar by (foo) (some_metric)" },
    { "sum by ()(some_metric)", "sum(some_metric)" },
    { "sum by (foo,bar,)(some_metric)", "sum by (foo, bar) (some_metric)" },
    { "sum by (foo,)(some_metric)", "sum by (foo) (some_metric)" },
    { "topk(5, some_metric)", "topk(5, some_metric)" },
    { "count_values(\"value\", some_metric)", "count_values(\"value\", some_metric)" },
    { "sum without(and, by, avg, count, alert, annotations)(some_metric)",
      "sum without (and, by, avg, count, alert, annotations) (some_metric)" },
    { "time()", "time()" },
    { "floor(some_metric{foo!=\"bar\"})", "floor(some_metric{foo!=\"bar\"})" },
    { "rate(some_metric[5m])", "rate(some_metric[5m])" },
    { "round(some_metric)", "round(some_metric)" },
    { "round(some_metric, 5)", "round(some_metric, 5)" },
    { "sum(sum)", "sum(sum)" },
    { "a + sum", "a + sum" },
    { "\"double-quoted string \\\" with escaped quote\"",
      "\"double-quoted string \\\" with escaped quote\"" },
    { "'single-quoted string \\' with escaped quote'",
      "\"single-quoted string ' with escaped quote\"" },
    { "`backtick-quoted string`", "\"backtick-quoted string\"" },
    { "\"\\a\\b\\f\\n\\r\\t\\v\\\\\\\" - \\xFF\\377\\u1234\\U00010111\\U0001011111\342\230\272\"",
      "\"\\a\\b\\f\\n\\r\\t\\v\\\\\\\" - "
      "\\xff\\xff\341\210\264\360\220\204\221\360\220\204\22111\342\230\272\"" },
    { "'\\a\\b\\f\\n\\r\\t\\v\\\\\\' - \\xFF\\377\\u1234\\U00010111\\U0001011111\342\230\272'",
      "\"\\a\\b\\f\\n\\r\\t\\v\\\\' - "
      "\\xff\\xff\341\210\264\360\220\204\221\360\220\204\22111\342\230\272\"" },
    { "foo{bar=\"baz\"}[10m:6s]", "foo{bar=\"baz\"}[10m:6s]" },
    { "foo{bar=\"baz\"}[10m5s:1h6ms]", "foo{bar=\"baz\"}[10m5s:1h6ms]" },
    { "foo[10m:]", "foo[10m:]" },
    { "min_over_time(rate(foo{bar=\"baz\"}[2s])[5m:5s])",
      "min_over_time(rate(foo{bar=\"baz\"}[2s])[5m:5s])" },
    { "min_over_time(rate(foo{bar=\"baz\"}[2s])[5m:])[4m:3s]",
      "min_over_time(rate(foo{bar=\"baz\"}[2s])[5m:])[4m:3s]" },
    { "min_over_time(rate(foo{bar=\"baz\"}[2s])[5m:] offset 4m)[4m:3s]",
      "min_over_time(rate(foo{bar=\"baz\"}[2s])[5m:] offset 4m)[4m:3s]" },
    { "min_over_time(rate(foo{bar=\"baz\"}[2s])[5m:] @ 1603775091)[4m:3s]",
      "min_over_time(rate(foo{bar=\"baz\"}[2s])[5m:] @ 1603775091.000)[4m:3s]" },
    { "min_over_time(rate(foo{bar=\"baz\"}[2s])[5m:] @ -160377509)[4m:3s]",
      "min_over_time(rate(foo{bar=\"baz\"}[2s])[5m:] @ -160377509.000)[4m:3s]" },
    { "sum without(and, by, avg, count, alert, annotations)(some_metric) [30m:10s]",
      "sum without (and, by, avg, count, alert, annotations) (some_metric)[30m:10s]" },
    { "some_metric OFFSET 1m [10m:5s]", "some_metric offset 1m[10m:5s]" },
    { "some_metric @ 123 [10m:5s]", "some_metric @ 123.000[10m:5s]" },
    { "some_metric @ 123 offset 1m [10m:5s]", "some_metric @ 123.000 offset 1m[10m:5s]" },
    { "some_metric offset 1m @ 123 [10m:5s]", "some_metric @ 123.000 offset 1m[10m:5s]" },
    { "some_metric[10m:5s] offset 1m @ 123", "some_metric[10m:5s] @ 123.000 offset 1m" },
    { "(foo + bar{nm=\"val\"})[5m:]", "(foo + bar{nm=\"val\"})[5m:]" },
    { "(foo + bar{nm=\"val\"})[5m:] offset 10m", "(foo + bar{nm=\"val\"})[5m:] offset 10m" },
    { "(foo + bar{nm=\"val\"} @ 1234)[5m:] @ 1603775019",
      "(foo + bar{nm=\"val\"} @ 1234.000)[5m:] @ 1603775019.000" },
    { "foo @ start()", "foo @ start()" },
    { "foo @ end()", "foo @ end()" },
    { "test[5y] @ start()", "test[5y] @ start()" },
    { "test[5y] @ end()", "test[5y] @ end()" },
    { "foo[10m:6s] @ start()", "foo[10m:6s] @ start()" },
    { "foo[10m:6s] @ end()", "foo[10m:6s] @ end()" },
    { "start", "start" },
    { "end", "end" },
    { "start{end=\"foo\"}", "start{end=\"foo\"}" },
    { "end{start=\"foo\"}", "end{start=\"foo\"}" },
    { "foo unless on(start) bar", "foo unless on (start) bar" },
    { "foo unless on(end) bar", "foo unless on (end) bar" },
    { "foo offset 5s-8", "foo offset 5s - 8" },
    { "foo offset -1^1", "foo offset -1s ^ 1" },
    { "(sum(foo))", "(sum(foo))" },
    { "(sum(foo) )", "(sum(foo))" },
    { "(sum(foo) by (bar))", "(sum by (bar) (foo))" },
    { "(sum by (bar) (foo))", "(sum by (bar) (foo))" },
    { "sum by (job)(rate(http_requests_total[30m]))",
      "sum by (job) (rate(http_requests_total[30m]))" },
    { "sum by (instance) (rate(node_cpu_seconds_total{mode!=\"idle\"}[5m]))",
      "sum by (instance) (rate(node_cpu_seconds_total{mode!=\"idle\"}[5m]))" },
    { "node_load1{instance=\"host-001:9100\"}[1d]", "node_load1{instance=\"host-001:9100\"}[1d]" },
    { "node_load1{instance=\"host-001:9100\"}", "node_load1{instance=\"host-001:9100\"}" },
    { "node_memory_MemAvailable_bytes", "node_memory_MemAvailable_bytes" },
    { "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
      "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))" },
    { "-2^2", "-2 ^ 2" },
    { "2^3^2", "2 ^ 3 ^ 2" },
    { "(2^3)^2", "(2 ^ 3) ^ 2" },
    { "-a * b", "-a * b" },
    { "2 * -a ^ b", "2 * -a ^ b" },
    { "a ^ -b * c", "a ^ -b * c" },
    { "1 - 2 - 3", "1 - 2 - 3" },
    { "1 - (2 - 3)", "1 - (2 - 3)" },
    { "a or b and c unless d", "a or b and c unless d" },
    { "a > b + c * d ^ e", "a > b + c * d ^ e" },
    { "a atan2 b", "a atan2 b" },
    { "a atan2 b * c", "a atan2 b * c" },
    { "foo offset -1h30m", "foo offset -1h30m" },
    { "foo # a comment\n + bar", "foo + bar" },
    { "MIN(x) BY (a)", "min by (a) (x)" },
    { "Sum WITHOUT (a) (x)", "sum without (a) (x)" },
    { "x OFFSET 5m", "x offset 5m" },
    { "NaN", "NaN" },
    { "nan", "NaN" },
    { "Inf", "+Inf" },
    { "-inf", "-Inf" },
    { "INF", "+Inf" },
    { "1e100", "10000000000000000000000000000000000000000000000000000000000000000000000000000000000"
               "000000000000000000" },
    { "1e-7", "0.0000001" },
    { "0.1+0.2", "0.1 + 0.2" },
    { "0x_1F", "31" },
    { "1_000", "1000" },
    { "foo[1h30m:5m] @ 100 offset 1m", "foo[1h30m:5m] @ 100.000 offset 1m" },
    { "foo{a=~\"x|y\",b!~\"z.*\"}", "foo{a=~\"x|y\",b!~\"z.*\"}" },
    { "{__name__=~\"node_.+\"}", "{__name__=~\"node_.+\"}" },
    { "{job=\"a\"} offset 5m", "{job=\"a\"} offset 5m" },
    { "count_values(\"code\", x) by (job)", "count_values by (job) (\"code\", x)" },
    { "quantile(0.9, x)", "quantile(0.9, x)" },
    { "bottomk(2, x) without (a)", "bottomk without (a) (2, x)" },
    { "group by (a) (x)", "group by (a) (x)" },
    { "label_replace(up, \"foo\", \"$1\", \"job\", \"(.*)\")",
      "label_replace(up, \"foo\", \"$1\", \"job\", \"(.*)\")" },
    { "label_join(up, \"foo\", \",\", \"a\", \"b\", \"c\")",
      "label_join(up, \"foo\", \",\", \"a\", \"b\", \"c\")" },
    { "clamp(x, 0, 1)", "clamp(x, 0, 1)" },
    { "clamp_min(x, 0)", "clamp_min(x, 0)" },
    { "clamp_max(x, 1)", "clamp_max(x, 1)" },
    { "predict_linear(x[1h], 3600)", "predict_linear(x[1h], 3600)" },
    { "absent(nonexistent{job=\"a\"})", "absent(nonexistent{job=\"a\"})" },
    { "absent_over_time(x[5m])", "absent_over_time(x[5m])" },
    { "quantile_over_time(0.5, x[5m])", "quantile_over_time(0.5, x[5m])" },
    { "present_over_time(x[5m])", "present_over_time(x[5m])" },
    { "last_over_time(x[5m])", "last_over_time(x[5m])" },
    { "day_of_week()", "day_of_week()" },
    { "day_of_month(x)", "day_of_month(x)" },
    { "days_in_month()", "days_in_month()" },
    { "hour()", "hour()" },
    { "minute(x)", "minute(x)" },
    { "month()", "month()" },
    { "year(x)", "year(x)" },
    { "vector(1)", "vector(1)" },
    { "scalar(x)", "scalar(x)" },
    { "timestamp(x)", "timestamp(x)" },
    { "sort_desc(x)", "sort_desc(x)" },
    { "sgn(x)", "sgn(x)" },
    { "a == bool on (b) c", "a == bool on (b) c" },
    { "a != on (b) group_right (c) d", "a != on (b) group_right (c) d" },
    { "a + ignoring (x) b", "a + ignoring (x) b" },
    { "x > 0.5", "x > 0.5" },
    { "(x)", "(x)" },
    { "((x))", "((x))" },
    { "-(x)", "-(x)" },
    { "- - 1", "1" },
    { "\"a\" ", "\"a\"" },
    { "`raw\\n`", "\"raw\\\\n\"" },
    { "'single'", "\"single\"" },
    { "1 + 2 * 3", "1 + 2 * 3" },
    { "5m + 1h", "5m + 1h" },
    { "foo @ -1.5", "foo @ -1.500" },
    { "foo[5m] @ end() offset 1m", "foo[5m] @ end() offset 1m" },
    { "rate(x[5m])[30m:1m]", "rate(x[5m])[30m:1m]" },
    { "max_over_time(deriv(rate(x[1m])[5m:1m])[10m:])",
      "max_over_time(deriv(rate(x[1m])[5m:1m])[10m:])" },
    { "{\"foo bar\"=\"baz\"}", "{\"foo bar\"=\"baz\"}" },
    { "{\"\"=\"0\",a=\"b\"}", "{\"\"=\"0\",a=\"b\"}" },
    { "sum by (\"\303\274n\303\257\") (x)", "sum by (\"\303\274n\303\257\") (x)" },
    { "x{a=\"\\u00e9\"}", "x{a=\"\303\251\"}" },
    { "x{a=\"\\x00\"}", "x{a=\"\\x00\"}" },
    { "x{a=~\"\"}", "x{a=~\"\"}" },
    { "{a!~\".*\"}", "{a!~\".*\"}" },
    { "some_metric{a=\"\303\277\"}", "some_metric{a=\"\303\277\"}" },
    { "label_replace(a, `b`, `c\303\277`, `d`, `.*`)",
      "label_replace(a, \"b\", \"c\303\277\", \"d\", \".*\")" },
};

static const struct err_case err_cases[] = {
    { "foo offset +(5)", "1:12: parse error: experimental duration expression is not enabled" },
    { "foo offset -(5)", "1:12: parse error: experimental duration expression is not enabled" },
    { "foo offset (5)", "1:12: parse error: experimental duration expression is not enabled" },
    { "foo[(5s)]", "1:5: parse error: experimental duration expression is not enabled" },
    { "{'foo\\'bar', ` + \"`\" + `a\\dos\\path` + \"`\" + `=\"boo\"}",
      "1:20: parse error: unknown escape sequence U+0064 'd'" },
    { "start()", "1:1: parse error: function \"start\" is not enabled" },
    { "end()", "1:1: parse error: function \"end\" is not enabled" },
    { "info(rate(http_request_counter_total{}[5m]))",
      "1:1: parse error: function \"info\" is not enabled" },
    { "info(http_request_counter_total{namespace=\"zzz\"}, {foo=\"bar\", bar=\"baz\"})",
      "1:1: parse error: function \"info\" is not enabled" },
    { "foo[11s+10s-5*2^2]", "1:5: parse error: experimental duration expression is not enabled" },
    { "foo[-(10s-5s)+20s]", "1:5: parse error: experimental duration expression is not enabled" },
    { "foo[-10s+15s]", "1:5: parse error: experimental duration expression is not enabled" },
    { "foo[step()]", "1:5: parse error: experimental duration expression is not enabled" },
    { "foo[  -  step  (  )  ]",
      "1:7: parse error: experimental duration expression is not enabled" },
    { "foo[   step  (  )  ]", "1:8: parse error: experimental duration expression is not enabled" },
    { "foo[-step()]", "1:5: parse error: experimental duration expression is not enabled" },
    { "foo offset step()", "1:12: parse error: experimental duration expression is not enabled" },
    { "foo offset -step()", "1:12: parse error: experimental duration expression is not enabled" },
    { "foo[max_of(step(),5s)]",
      "1:5: parse error: experimental duration expression is not enabled" },
    { "foo offset max_of(step(),5s)",
      "1:12: parse error: experimental duration expression is not enabled" },
    { "foo offset -min_of(5s,step()+8s)",
      "1:12: parse error: experimental duration expression is not enabled" },
    { "foo[range()]", "1:5: parse error: experimental duration expression is not enabled" },
    { "foo[2m/range()]", "1:5: parse error: experimental duration expression is not enabled" },
    { "foo[-range()]", "1:5: parse error: experimental duration expression is not enabled" },
    { "foo offset range()", "1:12: parse error: experimental duration expression is not enabled" },
    { "foo offset -range()", "1:12: parse error: experimental duration expression is not enabled" },
    { "foo[max_of(range(),5s)]",
      "1:5: parse error: experimental duration expression is not enabled" },
    { "foo[4s+4s:1s*2] offset (5s-8)",
      "1:5: parse error: experimental duration expression is not enabled" },
    { "rate(foo[2m+2m])", "1:10: parse error: experimental duration expression is not enabled" },
    { "foo offset -(1^2)", "1:12: parse error: experimental duration expression is not enabled" },
    { "foo offset (-1^2)", "1:12: parse error: experimental duration expression is not enabled" },
    { "foo[-2^2]", "1:5: parse error: experimental duration expression is not enabled" },
    { "foo[0+-2^2]", "1:5: parse error: experimental duration expression is not enabled" },
    { "", "unknown position: parse error: no expression found in input" },
    { "1+", "1:3: parse error: unexpected end of input" },
    { ".", "1:1: parse error: unexpected character: '.'" },
    { "2.5.", "1:1: parse error: bad number or duration syntax: \"2.5.\"" },
    { "100..4", "1:1: parse error: bad number or duration syntax: \"100..\"" },
    { "0deadbeef", "1:1: parse error: bad number or duration syntax: \"0de\"" },
    { "1 /", "1:4: parse error: unexpected end of input" },
    { "*1", "1:1: parse error: unexpected <op:*>" },
    { "(1))", "1:5: parse error: unexpected right parenthesis ')'" },
    { "((1)", "1:5: parse error: unclosed left parenthesis" },
    { "99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999"
      "99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999"
      "99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999"
      "999999999999999999999999999999999",
      "1:1: parse error: error parsing number: strconv.ParseFloat: parsing "
      "\"999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999"
      "99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999"
      "99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999"
      "99999999999999999999999999999999999\": value out of range" },
    { "(", "1:2: parse error: unclosed left parenthesis" },
    { "1 and 1", "1:1: parse error: set operator \"and\" not allowed in binary scalar expression" },
    { "1 == 1", "1:3: parse error: comparisons between scalars must use BOOL modifier" },
    { "1 or 1", "1:1: parse error: set operator \"or\" not allowed in binary scalar expression" },
    { "1 unless 1",
      "1:1: parse error: set operator \"unless\" not allowed in binary scalar expression" },
    { "1 !~ 1", "1:3: parse error: unexpected character after '!': '~'" },
    { "1 =~ 1", "1:3: parse error: unexpected character after '=': '~'" },
    { "-\"string\"", "1:1: parse error: unary expression only allowed on expressions of type "
                     "scalar or instant vector, got \"string\"" },
    { "-test[5m]", "1:1: parse error: unary expression only allowed on expressions of type scalar "
                   "or instant vector, got \"range vector\"" },
    { "*test", "1:1: parse error: unexpected <op:*>" },
    { "@@", "1:1: parse error: unexpected <op:@>" },
    { "1 offset 1d", "1:1: parse error: offset modifier must be preceded by an instant vector "
                     "selector or range vector selector or a subquery" },
    { "foo offset 1s offset 2s", "1:1: parse error: offset may not be set multiple times" },
    { "a - on(b) ignoring(c) d", "1:11: parse error: unexpected <ignoring>" },
    { "foo and 1",
      "1:1: parse error: set operator \"and\" not allowed in binary scalar expression" },
    { "1 and foo",
      "1:1: parse error: set operator \"and\" not allowed in binary scalar expression" },
    { "foo or 1", "1:1: parse error: set operator \"or\" not allowed in binary scalar expression" },
    { "1 or foo", "1:1: parse error: set operator \"or\" not allowed in binary scalar expression" },
    { "foo unless 1",
      "1:1: parse error: set operator \"unless\" not allowed in binary scalar expression" },
    { "1 unless foo",
      "1:1: parse error: set operator \"unless\" not allowed in binary scalar expression" },
    { "1 or on(bar) foo",
      "1:1: parse error: vector matching only allowed between instant vectors" },
    { "foo == on(bar) 10",
      "1:1: parse error: vector matching only allowed between instant vectors" },
    { "foo + group_left(baz) bar", "1:7: parse error: unexpected <group_left>" },
    { "foo and on(bar) group_left(baz) bar",
      "1:1: parse error: no grouping allowed for \"and\" operation" },
    { "foo and on(bar) group_right(baz) bar",
      "1:1: parse error: no grouping allowed for \"and\" operation" },
    { "foo or on(bar) group_left(baz) bar",
      "1:1: parse error: no grouping allowed for \"or\" operation" },
    { "foo or on(bar) group_right(baz) bar",
      "1:1: parse error: no grouping allowed for \"or\" operation" },
    { "foo unless on(bar) group_left(baz) bar",
      "1:1: parse error: no grouping allowed for \"unless\" operation" },
    { "foo unless on(bar) group_right(baz) bar",
      "1:1: parse error: no grouping allowed for \"unless\" operation" },
    { "http_requests{group=\"production\"} + on(instance) group_left(job,instance) "
      "cpu_count{type=\"smp\"}",
      "1:35: parse error: label \"instance\" must not occur in ON and GROUP clause at once" },
    { "foo + bool bar",
      "1:5: parse error: bool modifier can only be used on comparison operators" },
    { "foo + bool 10", "1:5: parse error: bool modifier can only be used on comparison operators" },
    { "foo and bool 10",
      "1:5: parse error: bool modifier can only be used on comparison operators" },
    { "foo @ +Inf", "1:1: parse error: timestamp out of bounds for @ modifier: +Inf" },
    { "foo @ -Inf", "1:1: parse error: timestamp out of bounds for @ modifier: -Inf" },
    { "foo @ NaN", "1:1: parse error: timestamp out of bounds for @ modifier: NaN" },
    { "{", "1:2: parse error: unexpected end of input inside braces" },
    { "}", "1:1: parse error: unexpected character: '}'" },
    { "some{", "1:6: parse error: unexpected end of input inside braces" },
    { "some}", "1:5: parse error: unexpected character: '}'" },
    { "some_metric{a=b}",
      "1:15: parse error: unexpected identifier \"b\" in label matching, expected string" },
    { "some_metric{a:b=\"b\"}", "1:14: parse error: unexpected character inside braces: ':'" },
    { "foo{a*\"b\"}", "1:6: parse error: unexpected character inside braces: '*'" },
    { "foo{a>=\"b\"}", "1:6: parse error: unexpected character inside braces: '>'" },
    { "foo{gibberish}",
      "1:14: parse error: unexpected \"}\" in label matching, expected label matching operator" },
    { "foo{1}", "1:5: parse error: unexpected character inside braces: '1'" },
    { "{}", "1:1: parse error: vector selector must contain at least one non-empty matcher" },
    { "{x=\"\"}", "1:1: parse error: vector selector must contain at least one non-empty matcher" },
    { "{x=~\".*\"}",
      "1:1: parse error: vector selector must contain at least one non-empty matcher" },
    { "{x!~\".+\"}",
      "1:1: parse error: vector selector must contain at least one non-empty matcher" },
    { "{x!=\"a\"}",
      "1:1: parse error: vector selector must contain at least one non-empty matcher" },
    { "foo{__name__=\"bar\"}",
      "1:1: parse error: metric name must not be set twice: \"foo\" or \"bar\"" },
    { "foo{__name__= =}",
      "1:15: parse error: unexpected \"=\" in label matching, expected string" },
    { "foo{,}",
      "1:5: parse error: unexpected \",\" in label matching, expected identifier or \"}\"" },
    { "foo{__name__ == \"bar\"}",
      "1:15: parse error: unexpected \"=\" in label matching, expected string" },
    { "foo{__name__=\"bar\" lol}", "1:20: parse error: unexpected identifier \"lol\" in label "
                                   "matching, expected \",\" or \"}\"" },
    { "foo{\"a\"=}", "1:9: parse error: unexpected \"}\" in label matching, expected string" },
    { "foo[5mm]", "1:5: parse error: bad number or duration syntax: \"5mm\"" },
    { "foo[5m1]", "1:5: parse error: bad number or duration syntax: \"5m1\"" },
    { "foo[5m:1m1]", "1:8: parse error: bad number or duration syntax: \"1m1\"" },
    { "foo[5y1hs]", "1:5: parse error: unknown unit \"hs\" in duration \"5y1hs\"" },
    { "foo[5m1h]", "1:5: parse error: not a valid duration string: \"5m1h\"" },
    { "foo[5m1m]", "1:5: parse error: not a valid duration string: \"5m1m\"" },
    { "foo[0m]", "1:5: parse error: duration must be greater than 0" },
    { "foo[\"5m\"]", "1:5: parse error: unexpected character in duration expression: '\"'" },
    { "foo[]", "1:5: parse error: unexpected \"]\" in subquery or range selector, expected number, "
               "duration, step(), or range()" },
    { "foo[-1]", "1:5: parse error: duration must be greater than 0" },
    { "some_metric[5m] OFFSET 1mm", "1:24: parse error: bad number or duration syntax: \"1mm\"" },
    { "some_metric[5m] OFFSET", "1:23: parse error: unexpected end of input in offset, expected "
                                "number, duration, step(), or range()" },
    { "some_metric OFFSET 1m[5m]", "1:22: parse error: no offset modifiers allowed before range" },
    { "some_metric[5m] @", "1:18: parse error: unexpected end of input in @, expected timestamp" },
    { "some_metric @ 1234 [5m]", "1:20: parse error: no @ modifiers allowed before range" },
    { "some_metric @ start() [5m]", "1:23: parse error: no @ modifiers allowed before range" },
    { "some_metric @ end()[5m]", "1:20: parse error: no @ modifiers allowed before range" },
    { "some_metric offset step()[5m]",
      "1:20: parse error: experimental duration expression is not enabled" },
    { "(foo + bar)[5m]", "1:12: parse error: ranges only allowed for vector selectors" },
    { "sum by (\"foo)(some_metric{})", "1:9: parse error: unterminated quoted string" },
    { "sum without(==)(some_metric)",
      "1:13: parse error: unexpected <op:==> in grouping opts, expected label" },
    { "sum without(,)(some_metric)",
      "1:13: parse error: unexpected \",\" in grouping opts, expected label" },
    { "sum without(foo,,)(some_metric)",
      "1:17: parse error: unexpected \",\" in grouping opts, expected label" },
    { "sum some_metric by (test)", "1:5: parse error: unexpected identifier \"some_metric\"" },
    { "sum (some_metric) by test",
      "1:22: parse error: unexpected identifier \"test\" in grouping opts, expected \"(\"" },
    { "sum () by (test)", "1:1: parse error: no arguments for aggregate expression provided" },
    { "MIN keep_common (some_metric)", "1:5: parse error: unexpected identifier \"keep_common\"" },
    { "MIN (some_metric) keep_common", "1:19: parse error: unexpected identifier \"keep_common\"" },
    { "sum (some_metric) without (test) by (test)", "1:34: parse error: unexpected <by>" },
    { "sum without (test) (some_metric) by (test)", "1:34: parse error: unexpected <by>" },
    { "topk(some_metric)", "1:1: parse error: wrong number of arguments for aggregate expression "
                           "provided, expected 2, got 1" },
    { "topk(some_metric,)",
      "1:17: parse error: trailing commas not allowed in function call args" },
    { "topk(some_metric, other_metric)",
      "1:6: parse error: expected type scalar in aggregation parameter, got instant vector" },
    { "count_values(5, other_metric)",
      "1:14: parse error: expected type string in aggregation parameter, got scalar" },
    { "rate(some_metric[5m]) @ 1234", "1:1: parse error: @ modifier must be preceded by an instant "
                                      "vector selector or range vector selector or a subquery" },
    { "floor()", "1:1: parse error: expected 1 argument(s) in call to \"floor\", got 0" },
    { "floor(some_metric, other_metric)",
      "1:1: parse error: expected 1 argument(s) in call to \"floor\", got 2" },
    { "floor(some_metric, 1)",
      "1:1: parse error: expected 1 argument(s) in call to \"floor\", got 2" },
    { "floor(1)",
      "1:7: parse error: expected type instant vector in call to function \"floor\", got scalar" },
    { "hour(some_metric, some_metric, some_metric)",
      "1:1: parse error: expected at most 1 argument(s) in call to \"hour\", got 3" },
    { "time(some_metric)", "1:1: parse error: expected 0 argument(s) in call to \"time\", got 1" },
    { "non_existent_function_far_bar()",
      "1:1: parse error: unknown function with name \"non_existent_function_far_bar\"" },
    { "rate(some_metric)", "1:6: parse error: expected type range vector in call to function "
                           "\"rate\", got instant vector" },
    { "-=", "1:2: parse error: unexpected \"=\"" },
    { "++-++-+-+-<", "1:11: parse error: unexpected <op:<>" },
    { "e-+=/(0)", "1:4: parse error: unexpected \"=\"" },
    { "a>b()", "1:3: parse error: unknown function with name \"b\"" },
    { "rate(avg)", "1:6: parse error: expected type range vector in call to function \"rate\", got "
                   "instant vector" },
    { "`\\``", "1:4: parse error: unterminated raw string" },
    { "\"\\", "1:1: parse error: escape sequence not terminated" },
    { "\"\\c\"", "1:1: parse error: unknown escape sequence U+0063 'c'" },
    { "\"\\x.\"", "1:1: parse error: illegal character U+002E '.' in escape sequence" },
    { "foo{bar=\"baz\"}[", "1:16: parse error: unexpected end of input in duration expression" },
    { "test[5d] OFFSET 10s [10m:5s]",
      "1:1: parse error: subquery is only allowed on instant vector, got matrix instead" },
    { "(foo + bar{nm=\"val\"})[5m:][10m:5s]",
      "1:1: parse error: subquery is only allowed on instant vector, got matrix instead" },
    { "rate(food[1m])[1h] offset 1h",
      "1:15: parse error: ranges only allowed for vector selectors" },
    { "rate(food[1m])[1h] @ 100", "1:15: parse error: ranges only allowed for vector selectors" },
    { "info(rate(http_request_counter_total{}[5m]), target_info{foo=\"bar\"})",
      "1:1: parse error: function \"info\" is not enabled" },
    { "info(http_request_counter_total{namespace=\"zzz\"}, {foo=\"bar\"} == 1)",
      "1:1: parse error: function \"info\" is not enabled" },
    { "foo[step]", "1:9: parse error: unexpected \"]\" in subquery or range selector, expected "
                   "number, duration, step(), or range()" },
    { "foo[step()/0d]", "1:5: parse error: experimental duration expression is not enabled" },
    { "foo[5s/0d]", "1:5: parse error: experimental duration expression is not enabled" },
    { "foo offset (4d/0)", "1:12: parse error: experimental duration expression is not enabled" },
    { "foo[5s%0d]", "1:5: parse error: experimental duration expression is not enabled" },
    { "foo offset 9.5e10", "1:12: parse error: duration out of range" },
    { "foo[9.5e10]", "1:5: parse error: duration out of range" },
    { "sum(", "1:5: parse error: unclosed left parenthesis" },
    { "sum(rate(", "1:10: parse error: unclosed left parenthesis" },
    { "foo[5s x 5s]", "1:8: parse error: unexpected character: 'x', expected ':'" },
    { "foo[5s s 5s]", "1:8: parse error: unexpected character: 's', expected ':'" },
    { "1[5m] smoothed", "1:2: parse error: ranges only allowed for vector selectors" },
    { "1[5m] anchored", "1:2: parse error: ranges only allowed for vector selectors" },
    { "# only a comment", "1:1: parse error: no expression found in input" },
    { "foo bar", "1:5: parse error: unexpected identifier \"bar\"" },
    { "foo{", "1:5: parse error: unexpected end of input inside braces" },
    { "foo[5m", "1:7: parse error: unclosed left bracket" },
    { "foo[5m:1m", "1:10: parse error: unclosed left bracket" },
    { "sum(x", "1:6: parse error: unclosed left parenthesis" },
    { "sum by x (y)",
      "1:8: parse error: unexpected identifier \"x\" in grouping opts, expected \"(\"" },
    { "sum by (a) x", "1:12: parse error: unexpected identifier \"x\" in aggregation" },
    { "rate(x[5m]", "1:11: parse error: unclosed left parenthesis" },
    { "x{a=\"b\",,}",
      "1:9: parse error: unexpected \",\" in label matching, expected identifier or \"}\"" },
    { "foo @", "1:6: parse error: unexpected end of input in @, expected timestamp" },
    { "foo @ start", "1:12: parse error: unexpected end of input in @, expected timestamp" },
    { "foo @ start(", "1:13: parse error: unclosed left parenthesis" },
    { "foo offset", "1:11: parse error: unexpected end of input in offset, expected number, "
                    "duration, step(), or range()" },
    { "foo offset bar", "1:12: parse error: unexpected identifier \"bar\" in offset, expected "
                        "number, duration, step(), or range()" },
    { "foo[5m] [10m]", "1:9: parse error: ranges only allowed for vector selectors" },
    { "foo[5m:1m] [1h]", "1:12: parse error: ranges only allowed for vector selectors" },
    { "1[5m]", "1:2: parse error: ranges only allowed for vector selectors" },
    { "\"a\"[5m:]",
      "1:1: parse error: subquery is only allowed on instant vector, got string instead" },
    { "x + \"a\"",
      "1:5: parse error: binary expression must contain only scalar and instant vector types" },
    { "\"a\" + x",
      "1:1: parse error: binary expression must contain only scalar and instant vector types" },
    { "sum(\"a\")",
      "1:5: parse error: expected type instant vector in aggregation expression, got string" },
    { "rate(x[5m], 1)", "1:1: parse error: expected 1 argument(s) in call to \"rate\", got 2" },
    { "label_join(x)",
      "1:1: parse error: expected at least 3 argument(s) in call to \"label_join\", got 1" },
    { "round(x, 1, 2)",
      "1:1: parse error: expected at most 2 argument(s) in call to \"round\", got 3" },
    { "topk(x, y)",
      "1:6: parse error: expected type scalar in aggregation parameter, got instant vector" },
    { "limitk(1, x)", "1:1: parse error: limitk() is experimental and must be enabled with "
                      "--enable-feature=promql-experimental-functions" },
    { "sort_by_label(x, \"a\")", "1:1: parse error: function \"sort_by_label\" is not enabled" },
    { "foo anchored", "1:1: parse error: anchored modifier is experimental and not enabled" },
    { "foo smoothed", "1:1: parse error: smoothed modifier is experimental and not enabled" },
    { "a + fill(0) b", "1:1: parse error: binop fill modifiers are experimental and not enabled" },
    { "a < bool on(b) group_left(b) c",
      "1:3: parse error: label \"b\" must not occur in ON and GROUP clause at once" },
    { "x{a=~\"(\"}", "1:3: parse error: error parsing regexp: missing closing parenthesis" },
    { "{a=~\"\"}",
      "1:1: parse error: vector selector must contain at least one non-empty matcher" },
    { "{a=\"\"} + 1",
      "1:1: parse error: vector selector must contain at least one non-empty matcher" },
    { "foo{__name__=~\"x\"}",
      "1:1: parse error: metric name must not be set twice: \"foo\" or \"x\"" },
    { "1 == 1 == 1", "1:3: parse error: comparisons between scalars must use BOOL modifier" },
    { "1 and 2", "1:1: parse error: set operator \"and\" not allowed in binary scalar expression" },
    { "time() and time()",
      "1:1: parse error: set operator \"and\" not allowed in binary scalar expression" },
    { "x == bool bool 1", "1:11: parse error: unexpected <bool>" },
    { "-\"a\"", "1:1: parse error: unary expression only allowed on expressions of type scalar or "
                "instant vector, got \"string\"" },
    { "sum without",
      "1:12: parse error: unexpected end of input in grouping opts, expected \"(\"" },
    { "count_values(\"a\")", "1:1: parse error: wrong number of arguments for aggregate expression "
                             "provided, expected 2, got 1" },
    { "foo offset 1e300", "1:12: parse error: duration out of range" },
    { "foo[1e300]", "1:5: parse error: duration out of range" },
    { "foo[0]", "1:5: parse error: duration must be greater than 0" },
    { "foo[5m:0s]", "1:8: parse error: duration must be greater than 0" },
    { "foo @ 1e30", "1:1: parse error: timestamp out of bounds for @ modifier: "
                    "1000000000000000019884624838656.000000" },
    { "foo @ 1 @ 2", "1:1: parse error: @ <timestamp> may not be set multiple times" },
    { "foo[5m] @ 1 @ 2", "1:1: parse error: @ <timestamp> may not be set multiple times" },
    { "x @ start() @ end()", "1:1: parse error: @ <timestamp> may not be set multiple times" },
    { "rate(x[5m]) offset 1m", "1:1: parse error: offset modifier must be preceded by an instant "
                               "vector selector or range vector selector or a subquery" },
    { "(x) offset 1m", "1:1: parse error: offset modifier must be preceded by an instant vector "
                       "selector or range vector selector or a subquery" },
    { "1 @ 1", "1:1: parse error: @ modifier must be preceded by an instant vector selector or "
               "range vector selector or a subquery" },
    { "foo[5m] offset 1m offset 2m", "1:1: parse error: offset may not be set multiple times" },
    { "1h1y", "1:1: parse error: bad number or duration syntax: \"1h1\"" },
    { "5m5m", "1:1: parse error: not a valid duration string: \"5m5m\"" },
    { "1x", "1:1: parse error: bad number or duration syntax: \"1\"" },
    { "0x", "1:1: parse error: error parsing number: strconv.ParseFloat: parsing \"0x\": invalid "
            "syntax" },
    { ".e1", "1:1: parse error: unexpected character: '.'" },
    { "'\n'", "1:1: parse error: unterminated quoted string" },
    { "\"abc", "1:1: parse error: unterminated quoted string" },
    { "`abc", "1:1: parse error: unterminated raw string" },
    { "a!b", "1:2: parse error: unexpected character after '!': 'b'" },
    { "a=~b", "1:2: parse error: unexpected character after '=': '~'" },
    { "a !~ b", "1:3: parse error: unexpected character after '!': '~'" },
    { "x{a!b}", "1:4: parse error: unexpected character after '!' inside braces: 'b'" },
    { "x{a=\"b\"}{c=\"d\"}", "1:9: parse error: unexpected \"{\"" },
    { "x[1m]]", "1:6: parse error: unexpected right bracket ']'" },
    { "x]", "1:2: parse error: unexpected right bracket ']'" },
    { "x}", "1:2: parse error: unexpected character: '}'" },
    { "{{", "1:2: parse error: unexpected left brace '{'" },
    { "x{a=\"b\" c=\"d\"}",
      "1:9: parse error: unexpected identifier \"c\" in label matching, expected \",\" or \"}\"" },
    { "x{\"a\" \"b\"}", "1:7: parse error: unexpected string \"\\\"b\\\"\" in label matching, "
                        "expected \",\" or \"}\"" },
    { "sum(x) by (a) by (b)", "1:15: parse error: unexpected <by>" },
    { "sum by (a,,b) (x)", "1:11: parse error: unexpected \",\" in grouping opts, expected label" },
    { "sum by (1) (x)",
      "1:9: parse error: unexpected number \"1\" in grouping opts, expected label" },
    { "sum by (a b) (x)",
      "1:11: parse error: unexpected identifier \"b\" in grouping opts, expected \",\" or \")\"" },
    { "a + on(b c) d",
      "1:10: parse error: unexpected identifier \"c\" in grouping opts, expected \",\" or \")\"" },
    { "abs(x) abs(y)", "1:8: parse error: unexpected identifier \"abs\"" },
    { "abs(x,)", "1:6: parse error: trailing commas not allowed in function call args" },
    { "abs(,x)", "1:5: parse error: unexpected \",\"" },
    { "\303\251", "1:1: parse error: unexpected character: '\303\251'" },
    { "x{\303\251=\"a\"}", "1:3: parse error: unexpected character inside braces: '\303\251'" },
    { "unknownfunc(x)", "1:1: parse error: unknown function with name \"unknownfunc\"" },
    { "RATE(x[5m])", "1:1: parse error: unknown function with name \"RATE\"" },
    { "1 +\n\n  *", "3:3: parse error: unexpected <op:*>" },
    { "a\n+ bool b", "2:1: parse error: bool modifier can only be used on comparison operators" },
    { "@", "1:1: parse error: unexpected <op:@>" },
    { "[5m]", "1:1: parse error: unexpected \"[\"" },
    { "()", "1:2: parse error: unexpected \")\"" },
    { "(,)", "1:2: parse error: unexpected \",\"" },
    { "x offset 1h +", "1:14: parse error: unexpected end of input" },
    { "x[5m] + 1",
      "1:1: parse error: binary expression must contain only scalar and instant vector types" },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* print_ast parses q and returns its printed form (malloc'd) or NULL with
 * err filled. */
static char *print_query(const char *q, size_t len, struct promql_error *err)
{
    struct promql_ast *ast = NULL;
    if (promql_parse(q, len, NULL, &ast, err) != 0)
        return NULL;
    struct wbuf b;
    wbuf_init(&b, 0);
    assert_int_equal(promql_print(ast->root, &b), 0);
    wbuf_put_u8(&b, 0);
    char *s = strdup((char *)b.data);
    wbuf_release(&b);
    promql_ast_free(ast);
    return s;
}

static void test_ok_table(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < N(ok_cases); i++) {
        struct promql_error err;
        char *got = print_query(ok_cases[i].in, strlen(ok_cases[i].in), &err);
        if (!got) {
            fprintf(stderr, "case %zu %s: unexpected error %s\n", i, ok_cases[i].in, err.msg);
            bad++;
            continue;
        }
        if (strcmp(got, ok_cases[i].out) != 0) {
            fprintf(stderr, "case %zu %s:\n  want %s\n  got  %s\n", i, ok_cases[i].in,
                    ok_cases[i].out, got);
            bad++;
        }
        /* The printed form parses back to the same tree. */
        char *again = print_query(got, strlen(got), &err);
        if (!again || strcmp(again, got) != 0) {
            fprintf(stderr, "case %zu: round trip of %s gave %s\n", i, got,
                    again ? again : err.msg);
            bad++;
        }
        free(again);
        free(got);
    }
    assert_int_equal(bad, 0);
}

static void test_err_table(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < N(err_cases); i++) {
        struct promql_error err;
        char *got = print_query(err_cases[i].in, strlen(err_cases[i].in), &err);
        if (got) {
            fprintf(stderr, "case %zu %s: parsed as %s, want error %s\n", i, err_cases[i].in, got,
                    err_cases[i].msg);
            free(got);
            bad++;
            continue;
        }
        if (err.code != TT_ESYNTAX || strcmp(err.msg, err_cases[i].msg) != 0) {
            fprintf(stderr, "case %zu %s:\n  want %s\n  got  %s (%d)\n", i, err_cases[i].in,
                    err_cases[i].msg, err.msg, err.code);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

static void test_error_position(void **state)
{
    (void)state;
    struct promql_ast *ast = NULL;
    struct promql_error err;
    const char *q = "sum(rate(x[5m]))\n  + on(a) *";
    assert_int_equal(promql_parse(q, strlen(q), NULL, &ast, &err), TT_ESYNTAX);
    assert_null(ast);
    assert_int_equal(err.offset, 27);
    assert_int_equal(err.line, 2);
    assert_int_equal(err.col, 11);
    assert_string_equal(err.detail, "unexpected <op:*>");
    assert_string_equal(err.msg, "2:11: parse error: unexpected <op:*>");
}

static void test_tree_shape(void **state)
{
    (void)state;
    struct promql_ast *ast = NULL;
    struct promql_error err;
    const char *q = "sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m] offset -1m @ 100))"
                    " / on (job) group_left (env) up";
    assert_int_equal(promql_parse(q, strlen(q), NULL, &ast, &err), 0);
    const struct promql_expr *r = ast->root;
    assert_int_equal(r->kind, PROMQL_BINARY);
    assert_int_equal(r->type, PROMQL_TYPE_VECTOR);
    assert_int_equal(r->u.bin.op, PROMQL_DIV);
    assert_non_null(r->u.bin.matching);
    assert_int_equal(r->u.bin.matching->card, PROMQL_CARD_MANY_TO_ONE);
    assert_int_equal(r->u.bin.matching->on, 1);
    assert_int_equal(r->u.bin.matching->nlabels, 1);
    assert_string_equal(r->u.bin.matching->include[0].ptr, "env");
    const struct promql_expr *agg = r->u.bin.lhs;
    assert_int_equal(agg->kind, PROMQL_AGGREGATE);
    assert_int_equal(agg->u.agg.op, PROMQL_AGG_SUM);
    assert_int_equal(agg->u.agg.ngrouping, 1);
    assert_int_equal(agg->u.agg.without, 0);
    assert_null(agg->u.agg.param);
    const struct promql_expr *call = agg->u.agg.expr;
    assert_int_equal(call->kind, PROMQL_CALL);
    assert_string_equal(call->u.call.func->name, "rate");
    assert_int_equal(call->u.call.nargs, 1);
    const struct promql_expr *ms = call->u.call.args[0];
    assert_int_equal(ms->kind, PROMQL_MATRIX_SELECTOR);
    assert_int_equal(ms->type, PROMQL_TYPE_MATRIX);
    assert_int_equal(ms->u.ms.range_ms, 300000);
    const struct promql_vector_selector *vs = &ms->u.ms.vs->u.vs;
    assert_int_equal(vs->mods.offset_ms, -60000);
    assert_int_equal(vs->mods.at, PROMQL_AT_TIMESTAMP);
    assert_int_equal(vs->mods.at_ms, 100000);
    assert_string_equal(vs->name.ptr, "http_requests_total");
    assert_int_equal(vs->nmatchers, 2);
    assert_string_equal(vs->matchers[0].name.ptr, "__name__");
    assert_string_equal(vs->matchers[0].value.ptr, "http_requests_total");
    assert_int_equal(vs->matchers[1].op, PROMQL_MATCH_RE);
    assert_string_equal(vs->matchers[1].value.ptr, "5..");
    assert_int_equal(vs->matchers[1].matches_empty, 0);
    assert_int_equal(ms->pos, 19);
    promql_ast_free(ast);

    /* Unary minus folds into number literals; ^ binds tighter than it. */
    q = "-2 ^ 2";
    assert_int_equal(promql_parse(q, strlen(q), NULL, &ast, &err), 0);
    assert_int_equal(ast->root->kind, PROMQL_UNARY);
    assert_int_equal(ast->root->u.unary.negate, 1);
    assert_int_equal(ast->root->u.unary.expr->kind, PROMQL_BINARY);
    promql_ast_free(ast);
    q = "-2 * 3";
    assert_int_equal(promql_parse(q, strlen(q), NULL, &ast, &err), 0);
    assert_int_equal(ast->root->u.bin.lhs->kind, PROMQL_NUMBER);
    assert_true(ast->root->u.bin.lhs->u.number.value == -2.0);
    assert_null(ast->root->u.bin.matching); /* scalar operands: no matching */
    promql_ast_free(ast);
    /* Strings keep embedded NUL bytes. */
    q = "x{a=\"b\\x00c\"}";
    assert_int_equal(promql_parse(q, strlen(q), NULL, &ast, &err), 0);
    assert_int_equal(ast->root->u.vs.matchers[1].value.len, 3);
    assert_memory_equal(ast->root->u.vs.matchers[1].value.ptr, "b\0c", 3);
    promql_ast_free(ast);
    /* Subquery with step and modifiers. */
    q = "max_over_time(rate(x[1m])[1h:30s] @ end() offset 5m)";
    assert_int_equal(promql_parse(q, strlen(q), NULL, &ast, &err), 0);
    const struct promql_expr *sq = ast->root->u.call.args[0];
    assert_int_equal(sq->kind, PROMQL_SUBQUERY);
    assert_int_equal(sq->u.sq.range_ms, 3600000);
    assert_int_equal(sq->u.sq.step_ms, 30000);
    assert_int_equal(sq->u.sq.mods.at, PROMQL_AT_END);
    assert_int_equal(sq->u.sq.mods.offset_ms, 300000);
    promql_ast_free(ast);
}

static void test_experimental_opt(void **state)
{
    (void)state;
    struct promql_parse_opts opts = { .experimental_functions = 1 };
    struct promql_ast *ast = NULL;
    struct promql_error err;
    const char *q = "sort_by_label(x, \"a\", \"b\")";
    assert_int_equal(promql_parse(q, strlen(q), NULL, &ast, &err), TT_ESYNTAX);
    assert_int_equal(promql_parse(q, strlen(q), &opts, &ast, &err), 0);
    promql_ast_free(ast);
}

/* Experimental syntax (opts.experimental_functions): input, printed form. */
static const struct {
    const char *in, *out;
} exp_ok[] = {
    { "limitk(2, x)", "limitk(2, x)" },
    { "limit_ratio by (a) (0.5, x)", "limit_ratio by (a) (0.5, x)" },
    { "a + fill(0) b", "a + fill(0) b" },
    { "a + fill_left(1) fill_right(-2) b", "a + fill_left(1) fill_right(-2) b" },
    { "a == bool on (x) group_left (y) fill_right(NaN) b",
      "a == bool on (x) group_left (y) fill_right(NaN) b" },
    { "a + fill(Inf) fill", "a + fill(+Inf) fill" },
    { "x[5m+1m]", "x[5m + 1m]" },
    { "x[2m*(10+5)]", "x[2m * (10 + 5)]" },
    { "x[-5m+35m]", "x[-5m + 35m]" },
    { "x[step()]", "x[step()]" },
    { "x[min_of(step()+1,1h)]", "x[min_of(step() + 1, 1h)]" },
    { "rate(x[30s:max_of(range(), 5s)])", "rate(x[30s:max_of(range(), 5s)])" },
    { "x offset -step()", "x offset -step()" },
    { "x offset (100 + 2)", "x offset (100 + 2)" },
    { "x offset -2 ^ 2", "x offset -2s ^ 2" },
    { "x[5m]", "x[5m]" },
    { "rate(x[5m] anchored)", "rate(x[5m] anchored)" },
    { "increase(x{a=\"b\"}[1m]   smoothed)", "increase(x{a=\"b\"}[1m] smoothed)" },
    { "x[5m] offset 1m anchored", "x[5m] offset 1m anchored" },
    { "x[5m] smoothed @ 100", "x[5m] @ 100.000 smoothed" },
    { "x smoothed", "x smoothed" },
    { "x offset -100 smoothed + 0", "x offset -1m40s smoothed + 0" },
    { "info(rate(http_request_counter_total{}[5m]))",
      "info(rate(http_request_counter_total[5m]))" },
    { "info(http_request_counter_total{namespace=\"zzz\"}, {foo=\"bar\", bar=\"baz\"})",
      "info(http_request_counter_total{namespace=\"zzz\"}, {bar=\"baz\",foo=\"bar\"})" },
    { "info(x, {data=~\".*\"})", "info(x, {data=~\".*\"})" },
    { "info(x, {})", "info(x, {})" },
};

/* info(): the second argument is a label selector whose matchers may all
 * match the empty string; Prometheus's messages and positions otherwise. */
static void test_info_syntax(void **state)
{
    (void)state;
    struct promql_parse_opts opts = { .experimental_functions = 1 };
    static const struct {
        const char *in, *msg;
    } bad[] = {
        { "info(rate(http_request_counter_total{}[5m]), target_info{foo=\"bar\"})",
          "1:46: parse error: expected label selectors only, got vector selector instead" },
        { "info(http_request_counter_total{namespace=\"zzz\"}, {foo=\"bar\"} == 1)",
          "1:51: parse error: expected label selectors only" },
        { "info(x, 1)",
          "1:1: parse error: expected type instant vector in call to function \"info\", got "
          "scalar" },
        { "info(x, {a=\"b\"}, {c=\"d\"})",
          "1:1: parse error: expected at most 2 argument(s) in call to \"info\", got 3" },
        { "info()",
          "1:1: parse error: expected at least 1 argument(s) in call to \"info\", got 0" },
        { "info(x[5m])",
          "1:6: parse error: expected type instant vector in call to function \"info\", got "
          "range vector" },
        { "info(x, ({a=\"b\"}))", "1:9: parse error: expected label selectors only" },
        /* The first argument is an ordinary selector: the empty-matcher
         * check applies there. */
        { "info({a=~\".*\"})",
          "1:6: parse error: vector selector must contain at least one non-empty matcher" },
    };
    int nbad = 0;
    for (size_t i = 0; i < N(bad); i++) {
        struct promql_ast *ast = NULL;
        struct promql_error err;
        int rc = promql_parse(bad[i].in, strlen(bad[i].in), &opts, &ast, &err);
        if (rc != TT_ESYNTAX || strcmp(err.msg, bad[i].msg) != 0) {
            fprintf(stderr, "%s:\n  want %s\n  got  %s (%d)\n", bad[i].in, bad[i].msg,
                    rc ? err.msg : "(parsed)", rc);
            nbad++;
        }
        promql_ast_free(ast);
    }
    assert_int_equal(nbad, 0);
    const struct promql_function *f = promql_function_lookup("info", 4);
    assert_non_null(f);
    assert_int_equal(f->experimental, 1);
    assert_int_equal(f->return_type, PROMQL_TYPE_VECTOR);
}

static void test_experimental_roundtrip(void **state)
{
    (void)state;
    struct promql_parse_opts opts = { .experimental_functions = 1 };
    int bad = 0;
    for (size_t i = 0; i < N(exp_ok); i++) {
        const char *q = exp_ok[i].in;
        for (int pass = 0; pass < 2; pass++) {
            struct promql_ast *ast = NULL;
            struct promql_error err;
            if (promql_parse(q, strlen(q), &opts, &ast, &err) != 0) {
                fprintf(stderr, "%s: %s\n", q, err.msg);
                bad++;
                break;
            }
            struct wbuf b;
            wbuf_init(&b, 0);
            assert_int_equal(promql_print(ast->root, &b), 0);
            wbuf_put_u8(&b, 0);
            if (strcmp((char *)b.data, exp_ok[i].out) != 0) {
                fprintf(stderr, "%s: want %s got %s\n", q, exp_ok[i].out, (char *)b.data);
                bad++;
            }
            wbuf_release(&b);
            promql_ast_free(ast);
            q = exp_ok[i].out; /* the printed form parses back the same */
        }
    }
    assert_int_equal(bad, 0);
}

static void test_experimental_values(void **state)
{
    (void)state;
    struct promql_parse_opts opts = { .experimental_functions = 1 };
    struct promql_ast *ast = NULL;
    struct promql_error err;
    const char *q = "x[26m+4m] offset (2*2)";
    assert_int_equal(promql_parse(q, strlen(q), &opts, &ast, &err), 0);
    assert_int_equal(ast->root->kind, PROMQL_MATRIX_SELECTOR);
    assert_int_equal(ast->root->u.ms.range_ms, 1800000);
    assert_non_null(ast->root->u.ms.range_expr);
    assert_int_equal(ast->root->u.ms.vs->u.vs.mods.offset_ms, 4000);
    promql_ast_free(ast);
    /* Dynamic: the engine resolves step(); the field stays 0. */
    q = "x[step()*2]";
    assert_int_equal(promql_parse(q, strlen(q), &opts, &ast, &err), 0);
    assert_int_equal(ast->root->u.ms.range_ms, 0);
    int64_t ms = 0;
    assert_int_equal(promql_dur_ms(ast->root->u.ms.range_expr, 15000, 0, &ms), 0);
    assert_int_equal(ms, 30000);
    promql_ast_free(ast);
    q = "x[limitk(1, y)]";
    assert_int_equal(promql_parse(q, strlen(q), &opts, &ast, &err), TT_ESYNTAX);
    q = "x[5m-5m]";
    assert_int_equal(promql_parse(q, strlen(q), &opts, &ast, &err), TT_ESYNTAX);
    assert_non_null(strstr(err.msg, "duration must be greater than 0"));
    q = "x[1m/0]";
    assert_int_equal(promql_parse(q, strlen(q), &opts, &ast, &err), TT_ESYNTAX);
    q = "limitk(1, x)";
    assert_int_equal(promql_parse(q, strlen(q), NULL, &ast, &err), TT_ESYNTAX);
    q = "x[step()]";
    assert_int_equal(promql_parse(q, strlen(q), NULL, &ast, &err), TT_ESYNTAX);
    assert_non_null(strstr(err.msg, "experimental duration expression is not enabled"));
}

/* The anchored/smoothed modifiers: flags in the tree, Prometheus's errors. */
static void test_extended_range_selectors(void **state)
{
    (void)state;
    struct promql_parse_opts opts = { .experimental_functions = 1 };
    struct promql_ast *ast = NULL;
    struct promql_error err;
    const char *q = "rate(x[5m] anchored)";
    assert_int_equal(promql_parse(q, strlen(q), &opts, &ast, &err), 0);
    const struct promql_expr *ms = ast->root->u.call.args[0];
    assert_int_equal(ms->kind, PROMQL_MATRIX_SELECTOR);
    assert_int_equal(ms->u.ms.vs->u.vs.anchored, 1);
    assert_int_equal(ms->u.ms.vs->u.vs.smoothed, 0);
    assert_int_equal(ms->end, 10); /* the keyword is not part of the selector */
    promql_ast_free(ast);
    q = "x smoothed";
    assert_int_equal(promql_parse(q, strlen(q), &opts, &ast, &err), 0);
    assert_int_equal(ast->root->kind, PROMQL_VECTOR_SELECTOR);
    assert_int_equal(ast->root->u.vs.smoothed, 1);
    promql_ast_free(ast);

    static const struct {
        const char *in, *msg;
        int experimental;
    } bad[] = {
        { "rate(x[5m] smoothed)",
          "1:6: parse error: smoothed modifier is experimental and not "
          "enabled",
          0 },
        { "x[5m:1m] anchored",
          "1:1: parse error: anchored modifier is not supported for "
          "subqueries",
          1 },
        { "(x + y) smoothed", "1:1: parse error: smoothed modifier not implemented", 1 },
        { "x anchored smoothed",
          "1:1: parse error: anchored and smoothed modifiers cannot be "
          "used together",
          1 },
        { "x[1m] smoothed anchored",
          "1:1: parse error: anchored and smoothed modifiers cannot "
          "be used together",
          1 },
        { "1[5m] anchored", "1:2: parse error: ranges only allowed for vector selectors", 1 },
    };
    for (size_t i = 0; i < N(bad); i++) {
        ast = NULL;
        int rc = promql_parse(bad[i].in, strlen(bad[i].in), bad[i].experimental ? &opts : NULL,
                              &ast, &err);
        assert_int_equal(rc, TT_ESYNTAX);
        assert_null(ast);
        assert_string_equal(err.msg, bad[i].msg);
    }
}

static void test_nesting_limit(void **state)
{
    (void)state;
    struct promql_ast *ast = NULL;
    struct promql_error err;
    size_t n = 100000;
    char *q = malloc(2 * n + 2);
    assert_non_null(q);
    /* Deep parentheses. */
    memset(q, '(', n);
    q[n] = '1';
    memset(q + n + 1, ')', n);
    assert_int_equal(promql_parse(q, 2 * n + 1, NULL, &ast, &err), TT_ESYNTAX);
    assert_non_null(strstr(err.msg, "nested too deeply"));
    /* Long unary chain. */
    memset(q, '-', n);
    q[n] = '1';
    assert_int_equal(promql_parse(q, n + 1, NULL, &ast, &err), TT_ESYNTAX);
    assert_non_null(strstr(err.msg, "nested too deeply"));
    /* A long left-associative chain is deep as a tree, not as recursion. */
    size_t len = 0;
    for (size_t i = 0; i < 5000; i++) {
        q[len++] = 'a';
        q[len++] = '+';
    }
    q[len++] = 'a';
    assert_int_equal(promql_parse(q, len, NULL, &ast, &err), TT_ESYNTAX);
    assert_non_null(strstr(err.msg, "nested too deeply"));
    /* Below the limit all is fine. */
    len = 0;
    for (size_t i = 0; i < 500; i++) {
        q[len++] = 'a';
        q[len++] = '+';
    }
    q[len++] = 'a';
    assert_int_equal(promql_parse(q, len, NULL, &ast, &err), 0);
    promql_ast_free(ast);
    free(q);
}

static void test_not_nul_terminated(void **state)
{
    (void)state;
    struct promql_ast *ast = NULL;
    struct promql_error err;
    const char q[] = { 'u', 'p', '{', 'a', '=', '"', 'b', '"', '}', '[' };
    assert_int_equal(promql_parse(q, 9, NULL, &ast, &err), 0);
    assert_int_equal(ast->root->kind, PROMQL_VECTOR_SELECTOR);
    promql_ast_free(ast);
    assert_int_equal(promql_parse(q, 10, NULL, &ast, &err), TT_ESYNTAX);
    assert_string_equal(err.msg,
                        "1:11: parse error: unexpected end of input in duration expression");
    assert_int_equal(promql_parse("", 0, NULL, &ast, NULL), TT_ESYNTAX);
}

static void test_selector(void **state)
{
    (void)state;
    struct promql_ast *ast = NULL;
    struct promql_error err;
    const char *q = "up{job=~\"a|b\", env!=\"\"}";
    assert_int_equal(promql_parse_selector(q, strlen(q), &ast, &err), 0);
    assert_int_equal(ast->root->kind, PROMQL_VECTOR_SELECTOR);
    assert_int_equal(ast->root->u.vs.nmatchers, 3);
    assert_int_equal(ast->root->u.vs.matchers[2].matches_empty, 0);
    promql_ast_free(ast);
    q = "{a=\"\"}";
    assert_int_equal(promql_parse_selector(q, strlen(q), &ast, &err), 0);
    assert_int_equal(ast->root->u.vs.matchers[0].matches_empty, 1);
    promql_ast_free(ast);
    q = "up + 1";
    assert_int_equal(promql_parse_selector(q, strlen(q), &ast, &err), TT_ESYNTAX);
    assert_string_equal(err.msg, "1:4: parse error: unexpected <op:+>");
    q = "rate(x[5m])";
    assert_int_equal(promql_parse_selector(q, strlen(q), &ast, &err), TT_ESYNTAX);
    q = "up offset 5m";
    assert_int_equal(promql_parse_selector(q, strlen(q), &ast, &err), TT_ESYNTAX);
}

static void test_matches_empty(void **state)
{
    (void)state;
    struct promql_matcher m = { PROMQL_MATCH_RE, { "a", 1 }, { ".*", 2 }, 0 };
    assert_int_equal(promql_matcher_matches_empty(&m), 1);
    m.value = (struct promql_str){ "a|", 2 };
    assert_int_equal(promql_matcher_matches_empty(&m), 1);
    m.value = (struct promql_str){ ".+", 2 };
    assert_int_equal(promql_matcher_matches_empty(&m), 0);
    m.op = PROMQL_MATCH_NRE;
    assert_int_equal(promql_matcher_matches_empty(&m), 1);
    m.value = (struct promql_str){ "(", 1 };
    assert_int_equal(promql_matcher_matches_empty(&m), TT_ESYNTAX);
    m.op = PROMQL_MATCH_NEQ;
    m.value = (struct promql_str){ "", 0 };
    assert_int_equal(promql_matcher_matches_empty(&m), 0);
}

static void test_function_table(void **state)
{
    (void)state;
    static const char *const required[] = {
        "abs",
        "ceil",
        "floor",
        "round",
        "clamp",
        "clamp_min",
        "clamp_max",
        "exp",
        "ln",
        "log2",
        "log10",
        "sqrt",
        "time",
        "timestamp",
        "vector",
        "scalar",
        "label_replace",
        "label_join",
        "sort",
        "sort_desc",
        "absent",
        "absent_over_time",
        "rate",
        "irate",
        "increase",
        "delta",
        "idelta",
        "deriv",
        "predict_linear",
        "resets",
        "changes",
        "avg_over_time",
        "min_over_time",
        "max_over_time",
        "sum_over_time",
        "count_over_time",
        "quantile_over_time",
        "stddev_over_time",
        "stdvar_over_time",
        "last_over_time",
        "present_over_time",
        "histogram_quantile",
        "day_of_month",
        "day_of_week",
        "days_in_month",
        "hour",
        "minute",
        "month",
        "year",
        "sgn",
    };
    for (size_t i = 0; i < N(required); i++) {
        const struct promql_function *f = promql_function_lookup(required[i], strlen(required[i]));
        assert_non_null(f);
        assert_string_equal(f->name, required[i]);
        assert_int_equal(f->experimental, 0);
    }
    for (size_t i = 0; i < promql_function_count(); i++) {
        const struct promql_function *f = promql_function_at(i);
        assert_int_equal(f->id, (int)i);
        if (i > 0)
            assert_true(strcmp(promql_function_at(i - 1)->name, f->name) < 0);
        assert_ptr_equal(promql_function_lookup(f->name, strlen(f->name)), f);
    }
    assert_null(promql_function_lookup("rat", 3));
    assert_null(promql_function_lookup("rates", 5));
    assert_null(promql_function_at(promql_function_count()));
    const struct promql_function *r = promql_function_lookup("rate", 4);
    assert_int_equal(r->nargs, 1);
    assert_int_equal(r->arg_types[0], PROMQL_TYPE_MATRIX);
    assert_int_equal(r->return_type, PROMQL_TYPE_VECTOR);
}

UNIT_TESTS(cmocka_unit_test(test_experimental_roundtrip), cmocka_unit_test(test_info_syntax),
           cmocka_unit_test(test_experimental_values),
           cmocka_unit_test(test_extended_range_selectors), cmocka_unit_test(test_ok_table),
           cmocka_unit_test(test_err_table), cmocka_unit_test(test_error_position),
           cmocka_unit_test(test_tree_shape), cmocka_unit_test(test_experimental_opt),
           cmocka_unit_test(test_nesting_limit), cmocka_unit_test(test_not_nul_terminated),
           cmocka_unit_test(test_selector), cmocka_unit_test(test_matches_empty),
           cmocka_unit_test(test_function_table))
