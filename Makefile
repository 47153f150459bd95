# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
UV := python3 -m uv
VENV := .venv/.synced
export ACCIDENT_ASSETS_HOME ?= $(CURDIR)/var
export DAGSTER_HOME ?= $(ACCIDENT_ASSETS_HOME)/dagster
# Written by `make postgres`: MLflow's store on the project's Postgres, for every target below.
-include $(ACCIDENT_ASSETS_HOME)/postgres/env.mk

.PHONY: run test lint format dev mlflow-ui api postgres postgres-stop bench clean

$(VENV): pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet "uv>=0.5"
	$(UV) sync --frozen
	@touch $@

run: $(VENV)  ## the whole asset graph on the offline sample data, ending with a champion per task
	.venv/bin/accident-assets run-all

test: $(VENV)  ## the test suite on both cores
	.venv/bin/pytest -n 2 --dist loadgroup

lint: $(VENV)
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

format: $(VENV)
	.venv/bin/ruff check --fix . && .venv/bin/ruff format .

dev: $(VENV)  ## Dagster UI and daemon (sensors, automation) on http://127.0.0.1:3000
	@.venv/bin/accident-assets init
	.venv/bin/dg dev --host 127.0.0.1 --port 3000

mlflow-ui: $(VENV)  ## MLflow UI on http://127.0.0.1:5000 over the local tracking store
	@echo "Runs and models: http://127.0.0.1:5000/#/experiments?workflowType=machine_learning"
	.venv/bin/mlflow ui --backend-store-uri $(or $(MLFLOW_TRACKING_URI),sqlite:///$(ACCIDENT_ASSETS_HOME)/mlflow/mlflow.db) --host 127.0.0.1 --port 5000

api: $(VENV)  ## prediction API on http://127.0.0.1:8000
	.venv/bin/uvicorn accident_assets.serving.api:app --host 127.0.0.1 --port 8000

postgres: $(VENV)  ## Debian's Postgres under var/postgres for the instance and MLflow (`make dev`, `make run` then use it)
	.venv/bin/accident-assets postgres start

postgres-stop: $(VENV)  ## stop it (data kept; `accident-assets postgres stop --sqlite` goes back to sqlite)
	.venv/bin/accident-assets postgres stop

clean:  ## delete the state directory (stopping its Postgres first, if one runs)
	@[ ! -x .venv/bin/accident-assets ] || .venv/bin/accident-assets postgres stop
	rm -rf var
