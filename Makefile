# The two commands of the README: `make demo` and `make test`. Each sets itself up.
# `make test-fast` is the inner loop: no browser, no test marked slow (under 2 min on 2 cores).
# `make docs` builds the documentation site into docs/_build/html, warnings as errors.
.PHONY: demo test test-fast docs setup clean

HEADLESS ?= 0

demo:
	@bash scripts/setup.sh
ifeq ($(HEADLESS),1)
	.venv/bin/plsd-widget demo --headless --out plsd_report.html
else
	.venv/bin/plsd-widget demo
endif

test:
	@bash scripts/setup.sh --browser --docs
	npm test --silent
	.venv/bin/python -m pytest

test-fast:
	@bash scripts/setup.sh
	npm test --silent
	.venv/bin/python -m pytest -m "not slow and not browser" -p no:cacheprovider

docs:
	@bash scripts/setup.sh --docs
	.venv/bin/python -m sphinx -b html -W --keep-going -d docs/_build/doctrees docs docs/_build/html
	@echo "==> the site is in docs/_build/html/index.html"

setup:
	@bash scripts/setup.sh --browser

clean:
	rm -rf .venv node_modules plsd_widget/static artifacts plsd_report.html docs/_build
