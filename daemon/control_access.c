/* control_access.c: who may talk to the daemon and who may change it. The
 * socket file: its directory (made when missing), a stale socket left by
 * a crash, its group and mode; and admin_group membership for mutating
 * requests, from what the kernel says of the peer and what NSS said at
 * start (nothing here asks NSS on the loop). */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/bufferevent.h>

#include "config.h"
#include "control_priv.h"
#include "log.h"

/* uid 0, or in admin_group: as the peer's gid, its supplementary groups as
 * the kernel saw them at connect (SO_PEERGROUPS), or the group's member
 * list as NSS gave it at start (admin_members). Nothing here asks NSS: a
 * slow LDAP or sssd must not stall the loop. Decided on the first mutating
 * request. */
bool control_client_is_admin(struct ctl_client *cl)
{
	struct control *c = cl->c;
	if (cl->admin != ADMIN_UNKNOWN)
		return cl->admin == ADMIN_YES;
	bool ok = cl->uid == 0;
	if (!ok && c->have_admin_gid) {
		ok = cl->gid == c->admin_gid;
#ifdef SO_PEERGROUPS
		gid_t groups[256];
		socklen_t len = sizeof(groups);
		if (!ok && getsockopt(bufferevent_getfd(cl->bev), SOL_SOCKET, SO_PEERGROUPS, groups,
				      &len) == 0)
			for (size_t i = 0; i < len / sizeof(gid_t) && !ok; i++)
				ok = groups[i] == c->admin_gid;
#endif
		for (size_t i = 0; i < c->n_admin_uids && !ok; i++)
			ok = c->admin_uids[i] == cl->uid;
	}
	cl->admin = ok ? ADMIN_YES : ADMIN_NO;
	return ok;
}

/* The uids of admin_group's listed members, once at start (NSS may block). */
static int admin_members(struct control *c, char *err, size_t errlen)
{
	struct group *gr = getgrgid(c->admin_gid);
	size_t n = 0;
	for (char **m = gr ? gr->gr_mem : NULL; m && *m; m++)
		n++;
	if (!n)
		return 0;
	char **names = calloc(n, sizeof(*names));
	c->admin_uids = calloc(n, sizeof(*c->admin_uids));
	int rc = names && c->admin_uids ? 0 : -1;
	/* Copy first: getpwnam may reuse the buffer getgrgid's answer is in. */
	for (size_t i = 0; i < n && rc == 0; i++)
		if (!(names[i] = strdup(gr->gr_mem[i])))
			rc = -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct passwd *pw = getpwnam(names[i]);
		if (pw)
			c->admin_uids[c->n_admin_uids++] = pw->pw_uid;
	}
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
	if (rc < 0)
		snprintf(err, errlen, "admin_group: out of memory");
	return rc;
}

/* A socket file left at path: remove it if nobody answers on it, refuse
 * if a daemon does. */
static int clear_stale(const struct sockaddr_un *sun, char *err, size_t errlen)
{
	struct stat st;
	if (lstat(sun->sun_path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", sun->sun_path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", sun->sun_path);
		return -1;
	}
	/* Non-blocking: a live daemon with a full backlog answers EAGAIN
	 * instead of stalling our start. */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	int rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	int e = errno;
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "%s: another daemon is answering on it", sun->sun_path);
		return -1;
	}
	if (e != ECONNREFUSED) {
		snprintf(err, errlen, "%s exists and cannot be checked: %s", sun->sun_path,
			 strerror(e));
		return -1;
	}
	log_info("control: removing stale socket %s", sun->sun_path);
	if (unlink(sun->sun_path) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove stale %s: %s", sun->sun_path, strerror(errno));
		return -1;
	}
	return 0;
}

static int lookup_group(const char *name, gid_t *gid, const char *what, char *err,
			size_t errlen)
{
	errno = 0;
	struct group *gr = getgrnam(name);
	if (!gr) {
		snprintf(err, errlen, "%s '%s': %s", what, name,
			 errno ? strerror(errno) : "no such group");
		return -1;
	}
	*gid = gr->gr_gid;
	return 0;
}

/* The socket's directory, when missing (a start by hand where no unit or
 * tmpfiles.d made /run/tcpprobe, or after systemd removed it at stop), is
 * created the way chronyd makes its own: missing parents 0755 as mkdir -p
 * would, the directory itself owned by the user the daemon drops to (so it
 * can still remove its socket at exit) and the socket's group, searchable
 * by exactly whom control_mode lets connect. An existing directory is left
 * as the administrator made it. */
static int make_socket_dir(const char *sock_path, const struct daemon_cfg *cfg, gid_t sock_gid,
			   char *err, size_t errlen)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	snprintf(dir, sizeof(dir), "%s", sock_path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0; /* relative paths are refused by the config; "/x" is in / */
	*slash = '\0';
	struct stat st;
	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "%s is not a directory", dir);
			return -1;
		}
		return 0;
	}
	if (errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	uid_t uid = (uid_t)-1;
	gid_t gid = sock_gid;
	if (cfg->user[0] && geteuid() == 0) {
		errno = 0;
		struct passwd *pw = getpwnam(cfg->user);
		if (!pw) {
			snprintf(err, errlen, "user '%s': %s", cfg->user,
				 errno ? strerror(errno) : "no such user");
			return -1;
		}
		uid = pw->pw_uid;
		if (gid == (gid_t)-1)
			gid = pw->pw_gid;
	}
	mode_t m = cfg->control_mode & 0777;
	mode_t mode = 0700 | (m & 0070 ? 0050 : 0) | (m & 0007 ? 0005 : 0);
	/* mkdir -p: every missing parent 0755, then ours. */
	for (char *p = dir + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		int rc = mkdir(dir, 0755);
		int e = errno;
		*p = '/';
		if (rc < 0 && e != EEXIST) {
			*p = '\0';
			snprintf(err, errlen, "cannot create directory %s: %s", dir, strerror(e));
			return -1;
		}
	}
	mode_t old = umask(0077);
	int rc = mkdir(dir, 0700);
	umask(old);
	if (rc < 0) {
		snprintf(err, errlen, "cannot create directory %s: %s", dir, strerror(errno));
		return -1;
	}
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && chown(dir, uid, gid) < 0) {
		snprintf(err, errlen, "cannot chown %s: %s", dir, strerror(errno));
		rmdir(dir);
		return -1;
	}
	if (chmod(dir, mode) < 0) {
		snprintf(err, errlen, "cannot chmod %04o %s: %s", (unsigned)mode, dir, strerror(errno));
		rmdir(dir);
		return -1;
	}
	struct passwd *pw = stat(dir, &st) == 0 ? getpwuid(st.st_uid) : NULL;
	struct group *gr = pw ? getgrgid(st.st_gid) : NULL;
	log_msg(LOG_LVL_NOTICE, "control: created directory %s (mode %04o, owner %s:%s) for the control socket",
		   dir, (unsigned)mode, pw ? pw->pw_name : "?", gr ? gr->gr_name : "?");
	return 0;
}

int control_socket_open(struct control *c, const struct daemon_cfg *cfg, char *err,
			size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	gid_t sock_gid = (gid_t)-1;
	size_t plen = strlen(cfg->control_socket);
	if (plen == 0 || plen >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "control_socket '%s': %s", cfg->control_socket,
			 plen ? "path too long" : "empty");
		return -1;
	}
	memcpy(sun.sun_path, cfg->control_socket, plen + 1);
	memcpy(c->path, sun.sun_path, plen + 1);
	if (cfg->admin_group[0]) {
		if (lookup_group(cfg->admin_group, &c->admin_gid, "admin_group", err, errlen) < 0)
			return -1;
		c->have_admin_gid = true;
		if (admin_members(c, err, errlen) < 0)
			return -1;
		snprintf(c->admin_group, sizeof(c->admin_group), "%s", cfg->admin_group);
	}
	if (cfg->control_group[0] &&
	    lookup_group(cfg->control_group, &sock_gid, "control_group", err, errlen) < 0)
		return -1;
	if (make_socket_dir(c->path, cfg, sock_gid, err, errlen) < 0 ||
	    clear_stale(&sun, err, errlen) < 0)
		return -1;

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* Created owner-only, opened up by chmod once the group is right. */
	mode_t old = umask(0177);
	int rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	int e = errno;
	umask(old);
	if (rc < 0) {
		snprintf(err, errlen, "bind %s: %s", c->path, strerror(e));
		close(fd);
		return -1;
	}
	if (sock_gid != (gid_t)-1 && chown(c->path, (uid_t)-1, sock_gid) < 0) {
		snprintf(err, errlen, "chgrp %s %s: %s", cfg->control_group, c->path,
			 strerror(errno));
		goto fail;
	}
	if (chmod(c->path, cfg->control_mode & 0777) < 0) {
		snprintf(err, errlen, "chmod %04o %s: %s", (unsigned)cfg->control_mode, c->path,
			 strerror(errno));
		goto fail;
	}
	struct stat st;
	if (stat(c->path, &st) == 0) {
		c->dev = st.st_dev;
		c->ino = st.st_ino;
	}
	if (listen(fd, 64) < 0) {
		snprintf(err, errlen, "listen %s: %s", c->path, strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	unlink(c->path);
	return -1;
}

/* Only our own socket: a second daemon started by mistake may have been
 * refused, but must not take the live daemon's socket with it. */
void control_socket_unlink(struct control *c)
{
	struct stat st;
	if (c->ino && stat(c->path, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino &&
	    unlink(c->path) < 0)
		log_warn("control: unlink %s", c->path);
}
