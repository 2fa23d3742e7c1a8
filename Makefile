# Hydrant — the two commands a newcomer needs:
#   make run    build and run Hydrant on examples/quickstart.yaml (files under ./data/out)
#   make test   everything CI runs (builds and caches a real MinIO on first use)

GO     ?= go
CACHE  := $(CURDIR)/.cache
BIN    := $(CURDIR)/bin
MINIO  := $(CACHE)/bin/minio
# Pinned MinIO release used by the end-to-end tests (built from source, ≈5 min once).
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c

.PHONY: all build run test unit e2e bench bench-go bench-load lint minio duckdb pyarrow pyiceberg boto3 kplagg postgres opensearch syslog-ng awscli jssdk dynalite kcl icebergrest otelfirehose chromium fuzz clean

all: build

build:
	$(GO) build -o $(BIN)/hydrant ./cmd/hydrant

run: build
	$(BIN)/hydrant serve -c examples/quickstart.yaml

# Unit, integration (embedded JetStream) and end-to-end tests (real binary, real MinIO),
# then every fuzz target briefly. The e2e fault-injection scenarios' summary table is written to
# .cache/fault-summary.txt and shown after the tests (go test hides a passing package's output).
test: lint minio duckdb pyarrow pyiceberg boto3 kplagg postgres opensearch syslog-ng awscli jssdk dynalite kcl icebergrest otelfirehose chromium
	@rm -f $(CACHE)/fault-summary.txt
	HYDRANT_MINIO_BIN=$(MINIO) HYDRANT_DUCKDB_PYTHON=$(DUCKDB_PY) HYDRANT_BOTO3_PYTHON=$(DUCKDB_PY) HYDRANT_KPLAGG_PYTHON=$(DUCKDB_PY) HYDRANT_OPENSEARCH=$(OPENSEARCH_DIR) HYDRANT_JSSDK=$(JSSDK_DIR) HYDRANT_DYNALITE=$(DYNALITE_DIR) HYDRANT_KCL=$(KCL_DIR) HYDRANT_ICEBERG_REST=$(ICEBERG_REST_DIR) HYDRANT_OTELFIREHOSE=$(OTELFIREHOSE) HYDRANT_FAULT_SUMMARY=$(CACHE)/fault-summary.txt $(GO) test -race -count=1 -timeout 40m ./...
	@if [ -f $(CACHE)/fault-summary.txt ]; then cat $(CACHE)/fault-summary.txt; fi
	$(MAKE) fuzz FUZZTIME=5s

# Each decoder that reads bytes from the network or disk, fuzzed for FUZZTIME.
FUZZTIME ?= 60s
FUZZ_TARGETS := ./ingest:FuzzSplitRecords ./ingest/awsapi:FuzzRequests ./ingest/auth:FuzzParseAuthorization \
	./shards:FuzzDecodeBatch ./config:FuzzParse ./transform:FuzzFields ./transform:FuzzDecompress \
	./destinations/parquet:FuzzEncode ./destinations/parquet:FuzzEncodeNested ./destinations/elasticsearch:FuzzItemResults ./ingest:FuzzLineGuardRefusesOnlyWhatSplitRefuses \
	./ingest:FuzzValidMatchesEncodingJSON ./internal/jsonpointer:FuzzLookupMatchesDecode \
	./ingest/awsapi:FuzzJSONDecodeMatchesEncodingJSON ./shards/seglog:FuzzDecoders ./shards/seglog:FuzzOpen \
	./transform:FuzzDecodeKPL ./transform:FuzzSplit ./transform:FuzzCloudWatchLogs \
	./destinations/httpendpoint:FuzzCheckResponse ./destinations/parquet:FuzzAutoSchema
# A run that ends in the fuzz engine's own "context deadline exceeded", with no
# failing input, is the engine missing its own deadline as it stops (seen on short
# runs on a loaded machine): it runs again, up to three times in all.
fuzz:
	@set -e; mkdir -p $(CACHE); for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		for attempt in 1 2 3; do \
			echo "fuzz $$pkg $$fn for $(FUZZTIME)"; \
			if $(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $$pkg > $(CACHE)/fuzz.log 2>&1; then \
				cat $(CACHE)/fuzz.log; break; \
			fi; \
			cat $(CACHE)/fuzz.log; \
			if ! grep -q 'context deadline exceeded' $(CACHE)/fuzz.log || grep -q 'Failing input written' $(CACHE)/fuzz.log || [ $$attempt = 3 ]; then \
				exit 1; \
			fi; \
			echo "fuzz $$pkg $$fn: the engine missed its own deadline; again"; \
		done; \
	done

# Quick loop while developing: no MinIO, no e2e.
unit:
	$(GO) test -short ./...

lint:
	@unformatted="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	@# A build without cgo (no SQL engine) must still compile, vet and refuse SQL applications.
	CGO_ENABLED=0 $(GO) vet ./...
	CGO_ENABLED=0 $(GO) test -count=1 ./analytics

minio: $(MINIO)

# PostgreSQL server binaries for the Postgres destination's tests (Debian's package; the tests
# run throwaway clusters as the postgres user).
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || \
		(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql)

# syslog-ng with its http() destination, for e2e/syslog_test.go (Debian's packages).
syslog-ng:
	@{ syslog-ng --version || /usr/sbin/syslog-ng --version; } 2>/dev/null | grep -Eq '^Available-Modules:.*[ ,]http(,|$$)' || \
		(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q syslog-ng-core syslog-ng-mod-http)

# Chromium for e2e/console_test.go, which drives the web console in a real headless browser
# (Debian's package).
chromium:
	@test -x /usr/bin/chromium || \
		(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

# AWS CLI v2 for e2e/recipes_test.go, which runs the README's AWS CLI block (Debian's package).
awscli:
	@/usr/bin/aws --version 2>/dev/null | grep -q '^aws-cli/2' || \
		(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q awscli)

# The AWS SDK for JavaScript v3 Kinesis and Firehose clients for e2e/jssdk_test.go, at the
# versions pinned in e2e/jssdk/package-lock.json, installed with the machine's Node.js (20+) and
# npm into $(JSSDK_DIR); again only when the pins change.
JSSDK_DIR := $(CACHE)/jssdk
jssdk: $(JSSDK_DIR)/node_modules/.package-lock.json

$(JSSDK_DIR)/node_modules/.package-lock.json: e2e/jssdk/package.json e2e/jssdk/package-lock.json
	@node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' || \
		{ echo "make jssdk: Node.js 20 or later is needed (found $$(node --version 2>&1))"; exit 1; }
	mkdir -p $(JSSDK_DIR)
	cp e2e/jssdk/package.json e2e/jssdk/package-lock.json $(JSSDK_DIR)/
	cd $(JSSDK_DIR) && npm ci --no-audit --no-fund --ignore-scripts

# dynalite, an open-source DynamoDB-compatible server, at the version pinned in
# e2e/dynalite/package-lock.json: the KCL e2e test keeps its leases in it. Installed like
# jssdk, into $(DYNALITE_DIR), only when the pins change.
DYNALITE_DIR := $(CACHE)/dynalite
dynalite: $(DYNALITE_DIR)/node_modules/.package-lock.json

$(DYNALITE_DIR)/node_modules/.package-lock.json: e2e/dynalite/package.json e2e/dynalite/package-lock.json
	@node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' || \
		{ echo "make dynalite: Node.js 20 or later is needed (found $$(node --version 2>&1))"; exit 1; }
	mkdir -p $(DYNALITE_DIR)
	cp e2e/dynalite/package.json e2e/dynalite/package-lock.json $(DYNALITE_DIR)/
	cd $(DYNALITE_DIR) && npm ci --no-audit --no-fund --ignore-scripts

# A Kinesis Client Library worker (the real Java KCL) for e2e/kcl_test.go, built from
# e2e/kcl like the OpenSearch server (Java 17, jars from Maven Central, cached in ~/.m2).
KCL_DIR := $(CACHE)/kcl
KCL_SRC := e2e/kcl
kcl: $(KCL_DIR)/lib/kclworker.jar

$(KCL_DIR)/lib/kclworker.jar: $(KCL_SRC)/pom.xml $(KCL_SRC)/src/main/java/dev/hydrant/kcl/Main.java $(KCL_SRC)/src/main/java/dev/hydrant/kcl/SdkSnippet.java
	@echo "building the KCL worker into $(KCL_DIR) (downloads ≈80 MB into ~/.m2 once)"
	rm -rf $(KCL_DIR)
	mvn -B -q -Dstyle.color=never -f $(KCL_SRC)/pom.xml package -Dhydrant.out=$(KCL_DIR)

# Apache Iceberg's REST catalog test server (RESTCatalogServer from iceberg-open-api's
# test-fixtures, as the apache/iceberg-rest-fixture image runs it) for e2e/iceberg_rest_test.go:
# e2e/icebergrest/pom.xml gathers its jars into $(ICEBERG_REST_DIR)/lib (Java 17, from Maven
# Central, cached in ~/.m2); .built marks a complete copy.
ICEBERG_REST_DIR := $(CACHE)/icebergrest
ICEBERG_REST_SRC := e2e/icebergrest
icebergrest: $(ICEBERG_REST_DIR)/lib/.built

$(ICEBERG_REST_DIR)/lib/.built: $(ICEBERG_REST_SRC)/pom.xml
	@echo "gathering the Iceberg REST catalog into $(ICEBERG_REST_DIR) (downloads ≈60 MB into ~/.m2 once)"
	rm -rf $(ICEBERG_REST_DIR)
	mvn -B -q -Dstyle.color=never -f $(ICEBERG_REST_SRC)/pom.xml package -Dhydrant.out=$(ICEBERG_REST_DIR)
	touch $@

# A minimal OpenTelemetry Collector with the contrib awsfirehose receiver and file exporter for
# e2e/http_endpoint_otel_test.go, built from e2e/otelfirehose (its own Go module, versions pinned
# in its go.mod; modules from the Go module proxy), again only when its sources change.
OTELFIREHOSE_SRC := e2e/otelfirehose
OTELFIREHOSE := $(CACHE)/otelfirehose/otelcol
otelfirehose: $(OTELFIREHOSE)

$(OTELFIREHOSE): $(OTELFIREHOSE_SRC)/go.mod $(OTELFIREHOSE_SRC)/go.sum $(OTELFIREHOSE_SRC)/main.go
	@echo "building the OpenTelemetry Collector (awsfirehose receiver) into $(dir $@) (its modules download once)"
	cd $(OTELFIREHOSE_SRC) && $(GO) build -o $@ .

# A single-node OpenSearch (Elasticsearch API) for the search destination's tests, run
# embedded from e2e/opensearch/server (Java 17, jars from Maven Central, cached in ~/.m2).
OPENSEARCH_DIR := $(CACHE)/opensearch
OPENSEARCH_SRC := e2e/opensearch/server
opensearch: $(OPENSEARCH_DIR)/lib/searchserver.jar

$(OPENSEARCH_DIR)/lib/searchserver.jar: $(OPENSEARCH_SRC)/pom.xml $(OPENSEARCH_SRC)/src/main/java/dev/hydrant/searchserver/Main.java
	@echo "building the OpenSearch test server into $(OPENSEARCH_DIR) (downloads ≈50 MB into ~/.m2 once)"
	rm -rf $(OPENSEARCH_DIR)
	mvn -B -q -Dstyle.color=never -f $(OPENSEARCH_SRC)/pom.xml package -Dhydrant.out=$(OPENSEARCH_DIR)

# DuckDB (Python package), an independent reader of the Parquet files in the e2e tests.
DUCKDB_PY := $(CACHE)/venv/bin/python
DUCKDB_VERSION := 2.0.0
duckdb: $(DUCKDB_PY)

$(DUCKDB_PY):
	python3 -m venv $(CACHE)/venv
	$(CACHE)/venv/bin/pip install --quiet duckdb==$(DUCKDB_VERSION)

# pyarrow in the same venv: e2e/parquet_nested_test.go reads nested Parquet back with it.
PYARROW_VERSION := 26.0.1
PYARROW := $(CACHE)/venv/.pyarrow-$(PYARROW_VERSION)
pyarrow: $(PYARROW)

$(PYARROW): $(DUCKDB_PY)
	$(CACHE)/venv/bin/pip install --quiet pyarrow==$(PYARROW_VERSION)
	touch $@

# pyiceberg in the same venv, with its SQL catalog's Postgres driver: e2e/iceberg_test.go reads the
# Iceberg table back through it (pyarrow pinned, 26.0.1 as for the Parquet read-back tests).
PYICEBERG_VERSION := 0.12.0
PYICEBERG := $(CACHE)/venv/.pyiceberg-$(PYICEBERG_VERSION)
pyiceberg: $(PYICEBERG)

$(PYICEBERG): $(DUCKDB_PY)
	$(CACHE)/venv/bin/pip install --quiet "pyiceberg[sql-postgres,pyarrow]==$(PYICEBERG_VERSION)" pyarrow==26.0.1
	touch $@

# boto3, the AWS SDK for Python, in the same venv: the e2e tests drive Hydrant's Kinesis API with it.
BOTO3_VERSION := 1.43.11
BOTO3 := $(CACHE)/venv/.boto3-$(BOTO3_VERSION)
boto3: $(BOTO3)

$(BOTO3): $(DUCKDB_PY)
	$(CACHE)/venv/bin/pip install --quiet boto3==$(BOTO3_VERSION)
	touch $@

# aws_kinesis_agg, the KPL's aggregation format in Python, in the same venv: the producer of
# e2e/kpl_test.go aggregates user records with it as the KPL does, and puts them with boto3.
KPLAGG_VERSION := 1.2.3
PROTOBUF_PY_VERSION := 7.36.2
KPLAGG := $(CACHE)/venv/.aws_kinesis_agg-$(KPLAGG_VERSION)
kplagg: $(KPLAGG)

$(KPLAGG): $(BOTO3)
	$(CACHE)/venv/bin/pip install --quiet aws_kinesis_agg==$(KPLAGG_VERSION) protobuf==$(PROTOBUF_PY_VERSION)
	touch $@

$(MINIO):
	@echo "building MinIO $(MINIO_VERSION) into $(CACHE)/bin (once; takes a few minutes)"
	GOBIN=$(CACHE)/bin $(GO) install github.com/minio/minio@$(MINIO_VERSION)

# Hot-path micro-benchmarks, then the load generator against a real `hydrant serve`.
bench: bench-go bench-load

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./...

bench-load: build
	$(GO) run ./cmd/hydrant-load -matrix -hydrant $(BIN)/hydrant -duration 10s

clean:
	rm -rf $(BIN) ./data
