# Two commands: `make run` sets everything up and serves the app (with one background
# worker); `make test` runs the checks. `make prod` runs the production shape here
# (DEBUG off, gunicorn, WhiteNoise, one worker): deploy/run-production.sh.
# `make lock` regenerates the lock files.
.DEFAULT_GOAL := run
.PHONY: run prod test lint lock system-packages test-system-packages

VENV := .venv
BIN := $(VENV)/bin
# The first interpreter that is Python >= 3.12 (Django 6 needs it), pyenv's included.
PYTHON ?= $(shell for candidate in python3.13 python3.12 python3 \
	$(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3) \
	$(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3); do \
	if $$candidate -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then \
	echo $$candidate; break; fi; done)

# fonts-hanazono: the rare characters of names (CJK Extension B on) that Noto CJK lacks.
PDF_PACKAGES := fonts-noto-cjk fonts-hanazono libharfbuzz-subset0 poppler-utils fontconfig
TEST_PACKAGES := $(PDF_PACKAGES) chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
HOST ?= 127.0.0.1
PORT ?= 8000
# The background worker is restarted after this many tasks (a fresh process frees
# what WeasyPrint accumulates).
WORKER_MAX_TASKS ?= 200

# The exact versions to install, one lock file per dependency group of pyproject.toml:
# the app's alone (`make run`) and the app's with the test tools (`make test`).
APP_LOCK := requirements/app.txt
TEST_LOCK := requirements/test.txt
# The lock files are written by uv, installed into the virtualenv for that alone.
UV_VERSION := 0.13.9
# `make lock LOCK_FLAGS=--upgrade` moves every pin to the newest version allowed.
LOCK_FLAGS ?=

$(BIN)/python:
	@if [ -z "$(PYTHON)" ]; then \
		echo "需要 Python 3.12 或更高版本（Django 6 的要求），但没有找到。"; \
		echo "请先安装 python3.13 或 python3.12（例如 Debian: apt-get install python3.13 python3.13-venv，或用 pyenv），再运行 make。"; \
		exit 1; fi
	@echo "使用 $(PYTHON) ($$($(PYTHON) --version)) 创建虚拟环境 $(VENV)"
	$(PYTHON) -m venv $(VENV)

$(BIN)/.installed-app: $(APP_LOCK) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r $(APP_LOCK)
	@touch $@

$(BIN)/.installed-test: $(TEST_LOCK) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r $(TEST_LOCK)
	@touch $@

# After changing a group in pyproject.toml. Pins already in the lock files are kept
# where the new constraints allow them.
lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	for group in app test; do \
		$(BIN)/uv pip compile pyproject.toml --group $$group --universal --python-version 3.12 \
			--custom-compile-command "make lock" --quiet $(LOCK_FLAGS) -o requirements/$$group.txt \
			|| exit 1; \
	done

# Installs the Debian packages that are missing; elsewhere it says what to install.
define install_missing
	@missing=""; for package in $(1); do \
		dpkg-query -W -f='$${Status}' $$package 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
		if command -v apt-get >/dev/null 2>&1; then \
			echo "安装系统软件包:$$missing"; \
			$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing && fc-cache -f >/dev/null; \
		else \
			echo "请先安装系统软件包:$$missing（PDF 需要中文字体与 HarfBuzz 子集化库）"; exit 1; \
		fi; \
	fi
endef

system-packages:
	$(call install_missing,$(PDF_PACKAGES))

test-system-packages:
	$(call install_missing,$(TEST_PACKAGES))

run: $(BIN)/.installed-app system-packages
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py load_demo
	@echo ""
	@echo "打开 http://$(HOST):$(PORT)/ ，用上面任一演示用户登录（管理后台：http://$(HOST):$(PORT)/admin/）"
	@echo "后台工作进程（批量导出 PDF）与网站一同启动，退出时一同结束。"
	@echo ""
	@trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	( trap 'kill $$child 2>/dev/null; exit 0' INT TERM; \
	  while :; do \
	    $(BIN)/python manage.py db_worker --no-reload --max-tasks $(WORKER_MAX_TASKS) & child=$$!; \
	    wait $$child || sleep 1; \
	  done ) & worker=$$!; \
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

# gunicorn processes for `make prod`.
WEB_WORKERS ?= 2

prod: $(BIN)/.installed-app system-packages
	HOST=$(HOST) PORT=$(PORT) WEB_WORKERS=$(WEB_WORKERS) deploy/run-production.sh

lint: $(BIN)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run

test: $(BIN)/.installed-test test-system-packages lint
	$(BIN)/pytest
