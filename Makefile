# The two commands in the README, plus the ones behind them. Each target installs what it needs
# first (scripts/bootstrap.sh), so they work from a fresh clone.
SHELL := /bin/bash
BOOT := scripts/bootstrap.sh

.PHONY: demo stack test test-unit bench check-chart build clean

demo:  ## Start NATS, PostgreSQL, ingest, consumer; send 20,000 events (30% duplicates); print /stats
	$(BOOT) npm run -s demo

stack: ## Run ingest + consumer (and throwaway NATS/PostgreSQL unless NATS_URL/DATABASE_URL are set) until Ctrl-C
	$(BOOT) npm run -s stack

test:  ## build, typecheck, unit + integration (1 NATS server, then a 3-node cluster) + chart tests, chart validation; CI adds the cluster suite (.ci/run)
	$(BOOT) --k8s npm test

test-unit:
	$(BOOT) npm run -s test:unit

build:
	$(BOOT) npm run -s build

clean:
	rm -rf dist generated node_modules

check-chart: ## Helm lint/template for every value set, kubeconform (offline schemas), skaffold, Tiltfile, hadolint
	$(BOOT) --k8s bash scripts/check-chart.sh
