# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# make test   - the whole test suite (sanity, lint, changelog, unit, integration, then the version matrix)
# make demo   - the demo against the Moodle simulator
# make sanity|lint|changelog|unit|integration - one stage; make live - tests/live against a real Moodle
# make matrix - sanity, unit and smoke tests on every supported ansible-core (.cache/matrix/, pyenv Pythons)
# Every target creates .venv and installs what it needs first.

PYTHON ?= python3
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
PIP := $(VENV_PYTHON) -m pip --disable-pip-version-check

# Tools the tests start (ansible-playbook, ansible-galaxy, ...) come from the virtualenv.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export VIRTUAL_ENV := $(CURDIR)/$(VENV)

STAGES := sanity lint changelog unit integration live matrix

.PHONY: test demo venv venv-support php clean distclean $(STAGES)

test: venv php
	$(VENV_PYTHON) -m tests.tools.suite

$(STAGES): venv php
	$(VENV_PYTHON) -m tests.tools.suite $@

demo: venv
	$(VENV_PYTHON) -m tests.demo

venv: $(VENV_STAMP)

$(VENV_STAMP): requirements.txt tests/requirements.txt
	test -x $(VENV_PYTHON) || $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); $(MAKE) -s venv-support; $(PYTHON) -m venv $(VENV); }
	$(PIP) install --upgrade pip -r tests/requirements.txt >$(VENV)/pip.log 2>&1 \
	  || { cat $(VENV)/pip.log; exit 1; }
	touch $@

# Debian's own python3 creates virtualenvs only with python3-venv installed.
venv-support:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "python3 -m venv failed: installing python3-venv with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; \
	fi

# PHP lints the companion Moodle plugin. Installed with apt-get when missing
# and we are root; a machine without it still runs the rest, CI does not.
php:
	@if ! command -v php >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "php is missing: installing php8.2-cli with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq php8.2-cli >/dev/null \
	    || echo "warning: apt-get could not install php8.2-cli"; \
	fi
	@if ! command -v php >/dev/null 2>&1; then \
	  if [ "$${CI:-}" = true ]; then echo "error: CI needs php (php8.2-cli)" >&2; exit 1; fi; \
	  echo "warning: php is missing (installing it needs root and apt-get): the tests that need php are skipped"; \
	fi

clean:
	rm -rf .cache/ac tests/output .pytest_cache

distclean: clean
	rm -rf $(VENV) .cache/matrix
