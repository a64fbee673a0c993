# The two commands of the README: `make demo` and `make test`. Each sets itself up.
.PHONY: demo test setup clean

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

setup:
	@bash scripts/setup.sh --browser

clean:
	rm -rf .venv node_modules plsd_widget/static artifacts plsd_report.html
