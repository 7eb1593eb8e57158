#include <string.h>

#include "check.h"
#include "out.h"

static void build(struct out *o)
{
	out_obj_begin(o, NULL);
	out_str(o, "name", "a \"quoted\"\tvalue");
	out_u64(o, "n", 42);
	out_bool(o, "yes", true);
	out_arr_begin(o, "list");
	out_str(o, NULL, "x");
	out_str(o, NULL, "y");
	out_arr_end(o);
	out_arr_begin(o, "objs");
	out_obj_begin(o, NULL);
	out_u64(o, "id", 1);
	out_obj_end(o);
	out_obj_begin(o, NULL);
	out_u64(o, "id", 2);
	out_obj_end(o);
	out_arr_end(o);
	out_arr_begin(o, "empty");
	out_arr_end(o);
	out_obj_end(o);
}

static void test_json(void)
{
	struct out o;
	out_init(&o, true);
	build(&o);
	const char *s = out_done(&o);
	CHECK(s != NULL);
	CHECK(s && strcmp(s, "{\"name\":\"a \\\"quoted\\\"\\u0009value\",\"n\":42,\"yes\":true,"
			  "\"list\":[\"x\",\"y\"],\"objs\":[{\"id\":1},{\"id\":2}],\"empty\":[]}\n") == 0);
	out_free(&o);
}

static void test_text(void)
{
	struct out o;
	out_init(&o, false);
	build(&o);
	const char *s = out_done(&o);
	CHECK(s && strcmp(s, "name: a \"quoted\"\tvalue\nn: 42\nyes: true\nlist: x y\n"
			  "objs:\n  -\n    id: 1\n  -\n    id: 2\nempty:\n") == 0);
	if (s)
		fputs(s, stdout);
	out_free(&o);
}

int main(void)
{
	RUN(test_json);
	RUN(test_text);
	return check_done();
}
