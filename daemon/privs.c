#include "privs.h"

#include "log.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

/* A seccomp filter applies to this process (Seccomp: 2 in /proc/self/status). */
static bool seccomp_filtered(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	bool on = false;
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "Seccomp:", 8)) {
			on = atoi(line + 8) == 2;
			break;
		}
	fclose(f);
	return on;
}

static int keep_only_net_admin(bool keep_admin, char *err, size_t errlen)
{
	cap_t caps = cap_init(); /* all clear */
	cap_value_t keep[] = { CAP_NET_ADMIN };
	int rc = -1;
	if (!caps) {
		snprintf(err, errlen, "cap_init: %s", strerror(errno));
		return -1;
	}
	cap_t cur = cap_get_proc();
	cap_flag_value_t have = CAP_CLEAR;
	if (cur)
		cap_get_flag(cur, CAP_NET_ADMIN, CAP_PERMITTED, &have);
	if (keep_admin && have == CAP_SET &&
	    (cap_set_flag(caps, CAP_PERMITTED, 1, keep, CAP_SET) < 0 ||
	     cap_set_flag(caps, CAP_EFFECTIVE, 1, keep, CAP_SET) < 0)) {
		snprintf(err, errlen, "cap_set_flag: %s", strerror(errno));
		goto out;
	}
	if (cap_set_proc(caps) < 0) {
		if (errno == EPERM && geteuid() != 0) {
			/* The shipped unit filters capset() on purpose and bounds
			 * the set to CAP_NET_RAW: expected there, worth a warning
			 * only where no seccomp filter explains it. */
			int e = errno;
			bool filtered = seccomp_filtered();
			char *kept = cur ? cap_to_text(cur, NULL) : NULL;
			log_msg(filtered ? LOG_LVL_INFO : LOG_LVL_WARN,
				"capset refused (%s%s): keeping the capabilities the service "
				"manager granted: %s", strerror(e), filtered ? ", seccomp filter" : "",
				kept ? kept : "?");
			cap_free(kept);
		} else {
			snprintf(err, errlen, "cap_set_proc: %s", strerror(errno));
			goto out;
		}
	}
	/* Nothing executed later may regain anything. */
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	rc = 0;
out:
	if (cur)
		cap_free(cur);
	cap_free(caps);
	return rc;
}

int privs_drop(const char *user, bool keep_net_admin, char *err, size_t errlen)
{
	if (user && *user && geteuid() == 0) {
		struct passwd *pw = getpwnam(user);
		if (!pw) {
			snprintf(err, errlen, "user '%s' does not exist", user);
			return -1;
		}
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setgroups(0, NULL) < 0 ||
		    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
		    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0) {
			snprintf(err, errlen, "cannot switch to user '%s': %s", user, strerror(errno));
			return -1;
		}
		prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	}
	return keep_only_net_admin(keep_net_admin, err, errlen);
}
