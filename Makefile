# The two commands of the README: `make demo` and `make test`. Each sets itself up.
# `make test-fast` is the inner loop: no browser, no test marked slow (under 2 min on 2 cores).
.PHONY: demo test test-fast setup clean

HEADLESS ?= 0

demo:
	@bash scripts/setup.sh
ifeq ($(HEADLESS),1)
	.venv/bin/plsd-widget demo --headless --out plsd_report.html
else
	.venv/bin/plsd-widget demo
endif

test:
	@bash scripts/setup.sh --browser
	npm test --silent
	.venv/bin/python -m pytest

test-fast:
	@bash scripts/setup.sh
	npm test --silent
	.venv/bin/python -m pytest -m "not slow and not browser" -p no:cacheprovider

setup:
	@bash scripts/setup.sh --browser

clean:
	rm -rf .venv node_modules plsd_widget/static artifacts plsd_report.html
