# install.mk: `make install` / `make uninstall`, included at the end of the
# Makefile (which defines PREFIX, DESTDIR and B).
#
#   $(PREFIX)/sbin/tcpprobe                          0755
#   /etc/tcpprobe/tcpprobe.conf                      0644, never overwritten
#   $(UNITDIR)/tcpprobe.service                      0644, @SBINDIR@ filled in
#   $(PREFIX)/lib/sysusers.d/tcpprobe.conf           0644
#   $(PREFIX)/lib/tmpfiles.d/tcpprobe.conf           0644
#   $(PREFIX)/share/man/man8/tcpprobe.8              0644, generated ($(B)/man/)
#   $(PREFIX)/share/man/man5/tcpprobe.conf.5         0644
#   $(PREFIX)/share/doc/tcpprobe/prometheus/*        0644, if etc/prometheus/ has any
#
# The config is always /etc/tcpprobe/tcpprobe.conf: the unit and the
# daemon's built-in default name it.
# UNITDIR is /lib/systemd/system for PREFIX=/usr (Debian's place for
# packaged units) and $(PREFIX)/lib/systemd/system otherwise: systemd reads
# /usr/local/lib/systemd/system, and /etc/systemd/system is left to the
# administrator. Each directory can be overridden on the command line.
#
# With DESTDIR empty (a real install), install also creates the tcpprobe user
# (systemd-sysusers), /run/tcpprobe (systemd-tmpfiles) and reloads systemd if it
# runs; it never enables or starts the service. uninstall keeps the user and
# keeps the config unless it is byte-identical to the sample.

SBINDIR     ?= $(PREFIX)/sbin
SYSCONFDIR  := /etc
UNITDIR     ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
MANDIR      ?= $(PREFIX)/share/man
DOCDIR      ?= $(PREFIX)/share/doc/tcpprobe
CONF_SAMPLE ?= etc/tcpprobe.conf
PROM_FILES  := $(sort $(wildcard etc/prometheus/*))
INSTALL     ?= install

CONF_DEST   := $(DESTDIR)$(SYSCONFDIR)/tcpprobe/tcpprobe.conf

install: $(B)/tcpprobe $(MAN_PAGES)
	$(INSTALL) -d -m 0755 $(DESTDIR)$(SBINDIR) $(DESTDIR)$(SYSCONFDIR)/tcpprobe \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5
	$(INSTALL) -m 0755 $(B)/tcpprobe $(DESTDIR)$(SBINDIR)/tcpprobe
	@if [ -e "$(CONF_DEST)" ]; then \
		echo "keeping $(CONF_DEST) (the sample is $(CONF_SAMPLE))"; \
	elif [ -f "$(CONF_SAMPLE)" ]; then \
		echo "$(INSTALL) -m 0644 $(CONF_SAMPLE) $(CONF_DEST)"; \
		$(INSTALL) -m 0644 $(CONF_SAMPLE) $(CONF_DEST); \
	else \
		echo "warning: no $(CONF_SAMPLE): $(CONF_DEST) not installed" >&2; \
	fi
	sed 's|@SBINDIR@|$(SBINDIR)|g' systemd/tcpprobe.service > $(DESTDIR)$(UNITDIR)/tcpprobe.service.tmp
	chmod 0644 $(DESTDIR)$(UNITDIR)/tcpprobe.service.tmp
	mv -f $(DESTDIR)$(UNITDIR)/tcpprobe.service.tmp $(DESTDIR)$(UNITDIR)/tcpprobe.service
	$(INSTALL) -m 0644 systemd/tcpprobe.sysusers $(DESTDIR)$(SYSUSERSDIR)/tcpprobe.conf
	$(INSTALL) -m 0644 systemd/tcpprobe.tmpfiles $(DESTDIR)$(TMPFILESDIR)/tcpprobe.conf
	$(INSTALL) -m 0644 $(B)/man/tcpprobe.8 $(DESTDIR)$(MANDIR)/man8/tcpprobe.8
	$(INSTALL) -m 0644 $(B)/man/tcpprobe.conf.5 $(DESTDIR)$(MANDIR)/man5/tcpprobe.conf.5
ifneq ($(PROM_FILES),)
	$(INSTALL) -d -m 0755 $(DESTDIR)$(DOCDIR)/prometheus
	$(INSTALL) -m 0644 $(PROM_FILES) $(DESTDIR)$(DOCDIR)/prometheus/
endif
ifeq ($(DESTDIR),)
	@if command -v systemd-sysusers >/dev/null; then \
		systemd-sysusers $(SYSUSERSDIR)/tcpprobe.conf; \
	else echo "warning: no systemd-sysusers: create the system user tcpprobe yourself" >&2; fi
	@if [ -d /run/systemd/system ]; then \
		systemd-tmpfiles --create $(TMPFILESDIR)/tcpprobe.conf; \
		systemctl daemon-reload; \
	fi
endif

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/tcpprobe \
		$(DESTDIR)$(UNITDIR)/tcpprobe.service \
		$(DESTDIR)$(SYSUSERSDIR)/tcpprobe.conf \
		$(DESTDIR)$(TMPFILESDIR)/tcpprobe.conf \
		$(DESTDIR)$(MANDIR)/man8/tcpprobe.8 \
		$(DESTDIR)$(MANDIR)/man5/tcpprobe.conf.5
ifneq ($(PROM_FILES),)
	rm -f $(addprefix $(DESTDIR)$(DOCDIR)/prometheus/,$(notdir $(PROM_FILES)))
endif
	rmdir $(DESTDIR)$(DOCDIR)/prometheus $(DESTDIR)$(DOCDIR) 2>/dev/null || true
	@if [ -f "$(CONF_DEST)" ] && [ -f "$(CONF_SAMPLE)" ] && cmp -s "$(CONF_SAMPLE)" "$(CONF_DEST)"; then \
		echo "rm -f $(CONF_DEST)"; rm -f "$(CONF_DEST)"; \
		rmdir $(DESTDIR)$(SYSCONFDIR)/tcpprobe 2>/dev/null || true; \
	elif [ -e "$(CONF_DEST)" ]; then \
		echo "keeping $(CONF_DEST): it differs from the sample"; \
	fi
ifeq ($(DESTDIR),)
	@if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
endif
