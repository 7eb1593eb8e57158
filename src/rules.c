/*
 * The ruleset text is compiled in (nft/dimed.nft) and fed to `nft -f -`, so
 * the daemon and the file admins read can never disagree. Set elements are
 * changed at run time over netlink (nftset.c), never through nft(8).
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "rules.h"
#include "ruleset.h"
#include "ruleset_fast.h"

extern char **environ;

/* Starts argv with `input` on stdin (all of it written before returning);
 * quiet silences its stderr. Its pid, or -errno. */
static pid_t spawn(const char *const argv[], const char *input, bool quiet)
{
	posix_spawn_file_actions_t fa;
	int pipefd[2] = { -1, -1 }, ret;
	pid_t pid;

	if (input && pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	if (input)
		posix_spawn_file_actions_adddup2(&fa, pipefd[0], 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (quiet)
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	ret = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)(uintptr_t)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (input) {
		close(pipefd[0]);
		if (ret == 0) {
			size_t left = strlen(input);
			while (left) {
				ssize_t n = write(pipefd[1], input, left);
				if (n <= 0)
					break;
				input += n;
				left -= (size_t)n;
			}
		}
		close(pipefd[1]);
	}
	return ret != 0 ? -ret : pid;
}

/* Its exit status, or -errno. */
static int reap(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* Runs argv to its end: its exit status or -errno. */
static int run(const char *const argv[], const char *input, bool quiet)
{
	pid_t pid = spawn(argv, input, quiet);
	return pid < 0 ? pid : reap(pid);
}

static int nft(const char *text, bool quiet)
{
	const char *const argv[] = { "nft", "-f", "-", NULL };
	return run(argv, text, quiet);
}

static const char *const xt_tools[] = { "iptables", "ip6tables" };
static const char *const xt_hooks[][2] = {
	{ "raw", "PREROUTING" }, { "mangle", "PREROUTING" }, { "mangle", "OUTPUT" },
};

#define XT_RULES 6

/* op is "-I", "-D" or "-C". Returns the number of rules that failed. The
 * checks (-C) run side by side: a restart's look at what is there costs
 * one program's start, not six. */
static int xt_rules(const struct rules_cfg *cfg, const char *op, bool quiet)
{
	char mark[32], qnum[8];
	pid_t pids[XT_RULES];
	int failed = 0, n = 0;
	bool together = strcmp(op, "-C") == 0;

	snprintf(mark, sizeof(mark), "0x%x/0x%x", cfg->mark, cfg->mark);
	snprintf(qnum, sizeof(qnum), "%u", cfg->queue_num);
	for (size_t t = 0; t < 2; t++)
		for (size_t h = 0; h < 3; h++) {
			const char *const argv[] = {
				xt_tools[t], "-w", "-t", xt_hooks[h][0], op,
				xt_hooks[h][1], "-m", "mark", "--mark", mark,
				"-m", "comment", "--comment", "dimed",
				"-j", "NFQUEUE", "--queue-num", qnum, "--queue-bypass", NULL,
			};
			pid_t pid = spawn(argv, NULL, quiet);
			if (pid < 0)
				failed++;
			else if (together)
				pids[n++] = pid;
			else if (reap(pid) != 0)
				failed++;
		}
	for (int i = 0; i < n; i++)
		if (reap(pids[i]) != 0)
			failed++;
	return failed;
}

static void xt_cleanup(const struct rules_cfg *cfg)
{
	/* Delete until none is left: a crashed run may have left duplicates. */
	for (int i = 0; i < 8 && xt_rules(cfg, "-C", true) < XT_RULES; i++)
		xt_rules(cfg, "-D", true);
}

static void rules_cleanup(const struct rules_cfg *cfg)
{
	nft("destroy table inet dimed\n", true);
	nft("delete table inet dimed\n", true);
	xt_cleanup(cfg);
}

/* The table (with the kernel datapath's maps and rules if fast), then the
 * elements, as nft(8) input. NULL if out of memory. */
static char *table_text(bool fast, const char *elements)
{
	/* One transaction replaces a table an earlier run left (its elements
	 * keep dropping what would draw a RST: nft/dimed.nft, inbound_guard)
	 * with the new one and its elements: no moment without them. */
	static const char replace[] = "table inet dimed\ndelete table inet dimed\n";
	const char *parts[] = { replace, ruleset_text, "\n", fast ? ruleset_fast_text : "",
				elements ? elements : "" };
	size_t len = 1, off = 0;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		len += strlen(parts[i]);
	char *text = malloc(len);
	if (!text)
		return NULL;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		size_t n = strlen(parts[i]);
		memcpy(text + off, parts[i], n);
		off += n;
	}
	text[off] = '\0';
	return text;
}

int rules_install(const struct rules_cfg *cfg, const char *elements, enum rules_mode *mode, bool *fast)
{
	char rule[160], *text = table_text(*fast, elements);

	if (!text)
		return -ENOMEM;
	/* All six xtables rules an earlier run left stay (a restart needs
	 * them as they are); some of them go, to be put in whole; none: none
	 * to delete, so no second look. */
	int missing = xt_rules(cfg, "-C", true);
	bool have_xt = missing == 0;
	if (missing > 0 && missing < XT_RULES)
		xt_cleanup(cfg);
	int ret = nft(text, *fast);
	free(text);
	if (ret > 0 && *fast) {
		/* No payload mangling or no maps of this shape here: the queue
		 * rewrites every translated packet (docs/datapath.md). A restart's
		 * elements name queue sets only (st_nft_elements). */
		*fast = false;
		if (!(text = table_text(false, elements)))
			return -ENOMEM;
		ret = nft(text, false);
		free(text);
	}
	if (ret < 0) {
		log_warnx("cannot run nft: %s", strerror(-ret));
		return ret;
	}
	if (ret != 0) {
		log_warnx("nft could not load dimed's table (nft exited %d; its message is above)", ret);
		return -ENOEXEC;
	}
	snprintf(rule, sizeof(rule), "add rule inet dimed enqueue queue num %u bypass\n",
		 cfg->queue_num);
	if (nft(rule, true) == 0) {
		if (have_xt)
			xt_cleanup(cfg);	/* an xtables run's: not ours now */
		*mode = RULES_NATIVE;
		return 0;
	}
	/* No nft queue expression on this kernel: mark, and let xtables queue. */
	snprintf(rule, sizeof(rule),
		 "add rule inet dimed enqueue meta mark set meta mark or 0x%x\n", cfg->mark);
	if (nft(rule, false) != 0 || (!have_xt && xt_rules(cfg, "-I", false) != 0)) {
		log_warnx("kernel lacks nft queue and the xtables NFQUEUE fallback failed "
			  "(need nft_compat, xt_NFQUEUE, xt_mark, xt_comment)");
		rules_cleanup(cfg);
		return -EOPNOTSUPP;
	}
	log_info("kernel has no nft queue expression: using the xtables NFQUEUE fallback (mark 0x%x)",
		 cfg->mark);
	*mode = RULES_XT;
	return 0;
}

void rules_remove(const struct rules_cfg *cfg, enum rules_mode mode)
{
	if (mode == RULES_NONE)
		return;
	rules_cleanup(cfg);
}

const char *rules_mode_name(enum rules_mode mode)
{
	switch (mode) {
	case RULES_NATIVE: return "nft";
	case RULES_XT: return "nft+xtables";
	default: return "none";
	}
}
