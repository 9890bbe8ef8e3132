#!/usr/bin/env python3
"""Checks the deployment files against each other and against the stage.

kubectl and kustomize are not Debian packages, so this resolves the
Kustomize trees of deploy/k8s itself (the subset they use: resources,
components, configMapGenerator with files and behavior merge, patches by
file with strategic merge of containers by name, $patch: delete) and checks
what a rendered overlay would contain:

  * every file a kustomization names exists, and every patch targets a
    resource that exists at that point;
  * the stage's configuration is the ConfigMap's files, read in the order
    of the container's -c arguments over the defaults in consumer/conf.c;
  * the container port "metrics", the probes (/healthz liveness, /readyz
    readiness), the Prometheus annotations and the Service's targetPort all
    lead to metrics.port;
  * terminationGracePeriodSeconds exceeds what the stage may take to stop:
    shutdown.deliver.timeout.ms + shutdown.leave.timeout.ms +
    redis.timeout.ms (a commit in flight);
  * non-root, read-only root filesystem, no privilege escalation;
  * no autoscaler goes beyond the input partitions (the Deployment's
    ltvstream/input-partitions annotation), KEDA and an HPA never target
    the Deployment together, and KEDA's triggers watch the stage's consumer
    group and input topics;
  * docker-compose.yml's stage: the published port is metrics.port and
    stop_grace_period exceeds the shutdown bound of its properties;
  * deploy/connect's JDBC sink examples: upsert by the record's string key
    (which needs pk.fields), deletes only with record keys, values with a
    schema (the JDBC sink cannot write schemaless JSON), and only the
    stage's output topics of rows (not the lifecycle topic, a stream of
    events keyed by customer).

--self-test breaks each rule once and checks that it is reported.
Needs python3-yaml.
"""
import copy
import glob
import json
import os
import re
import sys
import tempfile

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
K8S = os.path.join(ROOT, "deploy", "k8s")
PARTITIONS_ANNOTATION = "ltvstream/input-partitions"


class Fail(Exception):
    """A kustomization that cannot be resolved."""


# ---- the stage's configuration -----------------------------------------------

def conf_defaults():
    """Every key's default from consumer/conf.c's table (first string
    literal of the default), plus the consumer group the stage defaults to
    (consumer/stage.c)."""
    with open(os.path.join(ROOT, "consumer", "conf.c"), encoding="utf-8") as f:
        text = f.read()
    d = dict(re.findall(r'\{"([a-z0-9_.]+)",\s*T_\w+,\s*"([^"]*)"', text))
    with open(os.path.join(ROOT, "consumer", "stage.c"), encoding="utf-8") as f:
        m = re.search(r'\{"group\.id",\s*"([^"]*)"\}', f.read())
    d["kafka.group.id"] = m.group(1) if m else "ltvstream"
    for k in ("metrics.port", "redis.timeout.ms", "shutdown.deliver.timeout.ms",
              "shutdown.leave.timeout.ms", "topic.purchases", "topic.visits") + \
            OUTPUT_TOPIC_KEYS + EVENT_TOPIC_KEYS:
        if k not in d:
            raise Fail("consumer/conf.c has no key %s any more: update tools/lint_deploy.py" % k)
    return d


def parse_properties(text):
    """key=value lines as the stage reads them (# and ! comments)."""
    out = {}
    for line in text.splitlines():
        s = line.strip()
        if not s or s[0] in "#!":
            continue
        if "=" not in s:
            raise Fail("properties line without '=': %r" % line)
        k, v = s.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def shutdown_bound_ms(conf):
    return (int(conf["shutdown.deliver.timeout.ms"]) + int(conf["shutdown.leave.timeout.ms"])
            + int(conf["redis.timeout.ms"]))


def group_id(conf):
    return conf.get("kafka.consumer.group.id") or conf["kafka.group.id"]


# ---- a small Kustomize ---------------------------------------------------------

def load_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def find_kustomization(d):
    for name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
        p = os.path.join(d, name)
        if os.path.isfile(p):
            return p
    raise Fail("%s: no kustomization.yaml" % os.path.relpath(d, ROOT))


def rkey(obj):
    return (obj.get("kind"), obj.get("metadata", {}).get("name"))


def merge(base, patch):
    """Strategic merge, the parts these manifests use: maps merge, lists of
    named maps (containers, volumes, ports) merge by name, other lists are
    replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            out[k] = merge(base[k], v) if k in base else copy.deepcopy(v)
        return out
    if (isinstance(base, list) and isinstance(patch, list) and patch
            and all(isinstance(x, dict) and "name" in x for x in base + patch)):
        out = [copy.deepcopy(x) for x in base]
        for p in patch:
            for i, b in enumerate(out):
                if b["name"] == p["name"]:
                    out[i] = merge(b, p)
                    break
            else:
                out.append(copy.deepcopy(p))
        return out
    return copy.deepcopy(patch)


class Tree:
    """What a kustomization renders: resources by (kind, name) and the
    generated ConfigMaps' files."""

    def __init__(self):
        self.resources = {}
        self.configmaps = {}

    def add(self, obj, where):
        k = rkey(obj)
        if k in self.resources:
            raise Fail("%s: %s/%s defined twice" % (where, k[0], k[1]))
        self.resources[k] = obj


def resolve(d, tree=None, component=False):
    kpath = find_kustomization(d)
    where = os.path.relpath(kpath, ROOT)
    k = load_docs(kpath)[0]
    want = "Component" if component else "Kustomization"
    if k.get("kind", "Kustomization") != want:
        raise Fail("%s: kind %s, expected %s" % (where, k.get("kind"), want))
    if tree is None:
        tree = Tree()

    def path_of(rel):
        p = os.path.normpath(os.path.join(d, rel))
        if not os.path.exists(p):
            raise Fail("%s: %s does not exist" % (where, rel))
        return p

    for rel in k.get("resources", []):
        p = path_of(rel)
        if os.path.isdir(p):
            sub = resolve(p)
            for obj in sub.resources.values():
                tree.add(obj, where)
            for name, files in sub.configmaps.items():
                if name in tree.configmaps:
                    raise Fail("%s: ConfigMap %s generated twice" % (where, name))
                tree.configmaps[name] = files
        else:
            for obj in load_docs(p):
                tree.add(obj, where)
    for gen in k.get("configMapGenerator", []):
        files = {}
        for entry in gen.get("files", []):
            key, _, rel = entry.partition("=") if "=" in entry else (None, None, entry)
            key = key or os.path.basename(rel)
            with open(path_of(rel), encoding="utf-8") as f:
                files[key] = f.read()
        for lit in gen.get("literals", []):
            key, _, val = lit.partition("=")
            files[key] = val
        name, behavior = gen["name"], gen.get("behavior", "create")
        if behavior == "create":
            if name in tree.configmaps:
                raise Fail("%s: ConfigMap %s exists; use behavior merge or replace" % (where, name))
            tree.configmaps[name] = files
        elif name not in tree.configmaps:
            raise Fail("%s: ConfigMap %s to %s does not exist" % (where, name, behavior))
        elif behavior == "merge":
            tree.configmaps[name].update(files)
        else:
            tree.configmaps[name] = files
    for rel in k.get("components", []):
        p = path_of(rel)
        if not os.path.isdir(p):
            raise Fail("%s: component %s is not a directory" % (where, rel))
        tree = resolve(p, tree, component=True)
    patches = list(k.get("patches", [])) + [{"path": p} for p in k.get("patchesStrategicMerge", [])]
    for patch in patches:
        if "path" in patch:
            docs = load_docs(path_of(patch["path"]))
        else:
            docs = [d2 for d2 in yaml.safe_load_all(patch["patch"]) if d2]
        for doc in docs:
            t = patch.get("target", {})
            key = (t.get("kind", doc.get("kind")), t.get("name", doc.get("metadata", {}).get("name")))
            if key not in tree.resources:
                raise Fail("%s: patch %s targets %s/%s, which is not among the resources"
                           % (where, patch.get("path", "(inline)"), key[0], key[1]))
            if doc.get("$patch") == "delete":
                del tree.resources[key]
            else:
                tree.resources[key] = merge(tree.resources[key], doc)
    return tree


# ---- checks ----------------------------------------------------------------------

def stage_conf(tree, pod, container, defaults, errors):
    """The configuration the container's `run -c ... -c ...` reads."""
    mounts = {}
    for vm in container.get("volumeMounts", []):
        vol = next((v for v in pod.get("volumes", []) if v["name"] == vm["name"]), None)
        if vol is None:
            errors.append("volumeMount %s has no volume" % vm["name"])
        elif "configMap" in vol:
            mounts[vm["mountPath"].rstrip("/")] = vol["configMap"]["name"]
    args = container.get("args", [])
    conf = dict(defaults)
    files = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "-c"]
    if not files:
        errors.append("the container's args name no -c properties file")
    for path in files:
        cm = mounts.get(os.path.dirname(path))
        if cm is None:
            errors.append("-c %s: no ConfigMap is mounted at %s" % (path, os.path.dirname(path)))
        elif cm not in tree.configmaps:
            errors.append("-c %s: ConfigMap %s is not generated here" % (path, cm))
        elif os.path.basename(path) not in tree.configmaps[cm]:
            errors.append("-c %s: ConfigMap %s has no file %s" % (path, cm, os.path.basename(path)))
        else:
            conf.update(parse_properties(tree.configmaps[cm][os.path.basename(path)]))
    for i in range(len(args) - 1):
        if args[i] == "-X" and "=" in args[i + 1]:
            key, _, val = args[i + 1].partition("=")
            conf[key] = val
    return conf


def probe_port_ok(probe, port_names, port):
    p = probe.get("httpGet", {}).get("port")
    return p == port or port_names.get(p) == port


def check_tree(tree, defaults, name):
    errors = []
    deps = [o for (kind, _), o in tree.resources.items() if kind == "Deployment"]
    if len(deps) != 1:
        return ["%s: expected one Deployment, found %d" % (name, len(deps))]
    dep = deps[0]
    dname = dep["metadata"]["name"]
    pod = dep["spec"]["template"]["spec"]
    containers = pod.get("containers", [])
    c = next((x for x in containers if "run" in x.get("args", [])[:1]), containers[0])
    conf = stage_conf(tree, pod, c, defaults, errors)
    port = int(conf["metrics.port"])
    port_names = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    if port_names.get("metrics") != port:
        errors.append("container port \"metrics\" is %s, metrics.port is %d"
                      % (port_names.get("metrics"), port))
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        pr = c.get(probe)
        if not pr:
            errors.append("no %s" % probe)
            continue
        if pr.get("httpGet", {}).get("path") != path:
            errors.append("%s path is %s, not %s" % (probe, pr.get("httpGet", {}).get("path"), path))
        if not probe_port_ok(pr, port_names, port):
            errors.append("%s port %s is not metrics.port %d"
                          % (probe, pr.get("httpGet", {}).get("port"), port))
    ann = dep["spec"]["template"].get("metadata", {}).get("annotations", {})
    if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") != str(port):
        errors.append("Prometheus annotations (scrape \"true\", port \"%d\") missing or wrong: %s"
                      % (port, {k: v for k, v in ann.items() if k.startswith("prometheus.io/")}))
    for (kind, sname), svc in tree.resources.items():
        if kind != "Service":
            continue
        for sp in svc["spec"].get("ports", []):
            tp = sp.get("targetPort", sp.get("port"))
            if tp != port and port_names.get(tp) != port:
                errors.append("Service %s targetPort %s does not lead to metrics.port" % (sname, tp))
    grace = int(pod.get("terminationGracePeriodSeconds", 30))
    bound = shutdown_bound_ms(conf)
    if grace * 1000 <= bound:
        errors.append("terminationGracePeriodSeconds %d s does not exceed the stage's shutdown "
                      "bound of %d ms (shutdown.deliver.timeout.ms + shutdown.leave.timeout.ms + "
                      "redis.timeout.ms)" % (grace, bound))
    psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
    if not (psc.get("runAsNonRoot") or csc.get("runAsNonRoot")):
        errors.append("runAsNonRoot is not set")
    if not csc.get("readOnlyRootFilesystem"):
        errors.append("readOnlyRootFilesystem is not set")
    if csc.get("allowPrivilegeEscalation") is not False:
        errors.append("allowPrivilegeEscalation is not false")
    try:
        partitions = int(dep["metadata"].get("annotations", {})[PARTITIONS_ANNOTATION])
    except (KeyError, ValueError):
        errors.append("the Deployment has no %s annotation" % PARTITIONS_ANNOTATION)
        partitions = None
    keda = [o for (kind, _), o in tree.resources.items() if kind == "ScaledObject"
            and o["spec"]["scaleTargetRef"]["name"] == dname]
    hpas = [o for (kind, _), o in tree.resources.items() if kind == "HorizontalPodAutoscaler"
            and o["spec"]["scaleTargetRef"]["name"] == dname]
    if len(keda) + len(hpas) > 1:
        errors.append("%d ScaledObjects and %d HPAs target Deployment %s: both scale it at once"
                      % (len(keda), len(hpas), dname))
    topics = {conf["topic.purchases"], conf["topic.visits"]} - {""}
    for so in keda:
        mx = so["spec"].get("maxReplicaCount", 100)
        if partitions is not None and mx > partitions:
            errors.append("ScaledObject maxReplicaCount %d exceeds the %d input partitions"
                          % (mx, partitions))
        for t in so["spec"].get("triggers", []):
            if t.get("type") != "kafka":
                continue
            md = t.get("metadata", {})
            if md.get("consumerGroup") != group_id(conf):
                errors.append("KEDA trigger consumerGroup %s is not the stage's group %s"
                              % (md.get("consumerGroup"), group_id(conf)))
            if md.get("topic") not in topics:
                errors.append("KEDA trigger topic %s is not an input topic (%s)"
                              % (md.get("topic"), ", ".join(sorted(topics))))
    for h in hpas:
        if partitions is not None and h["spec"]["maxReplicas"] > partitions:
            errors.append("HPA maxReplicas %d exceeds the %d input partitions"
                          % (h["spec"]["maxReplicas"], partitions))
    if partitions is not None and not keda and not hpas and dep["spec"].get("replicas", 1) > partitions:
        errors.append("replicas %d exceed the %d input partitions" % (dep["spec"]["replicas"], partitions))
    if not any(kind == "PodDisruptionBudget" for kind, _ in tree.resources):
        errors.append("no PodDisruptionBudget")
    return ["%s: %s" % (name, e) for e in errors]


def duration_s(s):
    m = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", str(s))
    if not m or not any(m.groups()):
        raise Fail("cannot read duration %r" % s)
    return int(m.group(1) or 0) * 60 + int(m.group(2) or 0)


def check_compose(path, defaults):
    errors = []
    doc = load_docs(path)[0]
    svc = doc["services"]["ltvstream"]
    conf = dict(defaults)
    for v in svc.get("volumes", []):
        host, _, rest = v.partition(":")
        if rest.split(":")[0].endswith(".properties"):
            with open(os.path.join(os.path.dirname(path), host), encoding="utf-8") as f:
                conf.update(parse_properties(f.read()))
    port = int(conf["metrics.port"])
    if not any(str(p).split(":")[-1] == str(port) for p in svc.get("ports", [])):
        errors.append("the ltvstream service does not publish metrics.port %d" % port)
    grace = duration_s(svc.get("stop_grace_period", "10s"))
    if grace * 1000 <= shutdown_bound_ms(conf):
        errors.append("stop_grace_period %d s does not exceed the shutdown bound of %d ms"
                      % (grace, shutdown_bound_ms(conf)))
    return ["docker-compose.yml: %s" % e for e in errors]


OUTPUT_TOPIC_KEYS = ("topic.f2_rate", "topic.f2_rolling", "topic.retention_mix",
                     "topic.rfm_segments", "topic.customer_rfm", "topic.acquisition")
# Streams of events keyed by customer, not tables: an upsert sink keyed by
# the record key would keep only each customer's last event.
EVENT_TOPIC_KEYS = ("topic.lifecycle",)


def check_connect(path, defaults):
    errors = []
    with open(path, encoding="utf-8") as f:
        try:
            cfg = json.load(f)["config"]
        except (ValueError, KeyError) as e:
            return ["%s: %s" % (os.path.relpath(path, ROOT), e)]
    if cfg.get("connector.class") != "io.confluent.connect.jdbc.JdbcSinkConnector":
        return []
    if cfg.get("pk.mode") == "record_key":
        if "StringConverter" in cfg.get("key.converter", "") and \
                len([x for x in cfg.get("pk.fields", "").split(",") if x.strip()]) != 1:
            errors.append("pk.mode record_key with a string key needs exactly one pk.fields name")
    if cfg.get("delete.enabled") == "true" and cfg.get("pk.mode") != "record_key":
        errors.append("delete.enabled needs pk.mode record_key")
    if cfg.get("insert.mode") != "upsert":
        errors.append("insert.mode is %s: rows are upserts, so it must be upsert"
                      % cfg.get("insert.mode"))
    vc = cfg.get("value.converter", "")
    if vc.endswith("JsonConverter") and cfg.get("value.converter.schemas.enable") != "true":
        errors.append("schemaless JSON values: the JDBC sink needs a schema (use Avro)")
    outs = {defaults[k] for k in OUTPUT_TOPIC_KEYS}
    events = {defaults[k] for k in EVENT_TOPIC_KEYS}
    for t in cfg.get("topics", "").split(","):
        if t.strip() in events:
            errors.append("topic %s is an event stream, not a table: an upsert keyed by customer "
                          "would keep only each customer's last event" % t)
        elif t.strip() not in outs:
            errors.append("topic %s is not an output topic" % t)
    return ["%s: %s" % (os.path.relpath(path, ROOT), e) for e in errors]


def roots():
    out = [os.path.join(K8S, "base")]
    od = os.path.join(K8S, "overlays")
    out += [os.path.join(od, x) for x in sorted(os.listdir(od)) if os.path.isdir(os.path.join(od, x))]
    return out


def lint():
    defaults = conf_defaults()
    errors = []
    for r in roots():
        try:
            errors += check_tree(resolve(r), defaults, os.path.relpath(r, ROOT))
        except Fail as e:
            errors.append(str(e))
    errors += check_compose(os.path.join(ROOT, "docker-compose.yml"), defaults)
    for p in sorted(glob.glob(os.path.join(ROOT, "deploy", "connect", "*.json"))):
        errors += check_connect(p, defaults)
    return errors


# ---- self-test: every rule can fail ------------------------------------------------

def self_test():
    defaults = conf_defaults()
    base = resolve(os.path.join(K8S, "base"))
    assert check_tree(base, defaults, "base") == [], "the base itself must pass"

    def dep(t):
        return t.resources[("Deployment", "ltvstream")]

    def container(t):
        return dep(t)["spec"]["template"]["spec"]["containers"][0]

    def props(t, text):
        t.configmaps["ltvstream-config"]["site.properties"] = text

    def hpa(t):
        t.resources[("HorizontalPodAutoscaler", "ltvstream")] = {
            "kind": "HorizontalPodAutoscaler", "metadata": {"name": "ltvstream"},
            "spec": {"scaleTargetRef": {"name": "ltvstream"}, "maxReplicas": 2}}

    mutations = [
        ("grace period too short",
         lambda t: dep(t)["spec"]["template"]["spec"].update(terminationGracePeriodSeconds=20),
         "terminationGracePeriodSeconds"),
        ("shutdown bound raised past the grace period",
         lambda t: props(t, "shutdown.deliver.timeout.ms=20000\n"), "shutdown bound"),
        ("more KEDA replicas than partitions",
         lambda t: t.resources[("ScaledObject", "ltvstream")]["spec"].update(maxReplicaCount=13),
         "maxReplicaCount 13 exceeds"),
        ("readiness probe on another port",
         lambda t: container(t)["readinessProbe"]["httpGet"].update(port=9465), "readinessProbe port"),
        ("liveness probe on /readyz",
         lambda t: container(t)["livenessProbe"]["httpGet"].update(path="/readyz"), "livenessProbe path"),
        ("metrics.port moved in the properties",
         lambda t: props(t, "metrics.port=9500\n"), "container port \"metrics\""),
        ("KEDA and an HPA at once", hpa, "both scale it"),
        ("KEDA watching another group",
         lambda t: props(t, "kafka.group.id=other\n"), "consumerGroup"),
        ("writable root filesystem",
         lambda t: container(t)["securityContext"].update(readOnlyRootFilesystem=False),
         "readOnlyRootFilesystem"),
        ("no partitions annotation",
         lambda t: dep(t)["metadata"]["annotations"].pop(PARTITIONS_ANNOTATION), "annotation"),
    ]
    failed = 0
    for what, mutate, expect in mutations:
        t = copy.deepcopy(base)
        mutate(t)
        errs = check_tree(t, defaults, "base")
        if not any(expect in e for e in errs):
            print("self-test: %s was not reported (got %s)" % (what, errs))
            failed += 1

    # Kustomizations that cannot resolve: a patch of a missing resource, a
    # missing file.
    with tempfile.TemporaryDirectory() as tmp:
        base_rel = os.path.relpath(os.path.join(K8S, "base"), tmp)
        cases = [
            ("patch of a missing resource",
             "resources: [%s]\npatches: [{path: p.yaml}]\n" % base_rel,
             "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: nope}\n", "not among"),
            ("missing file", "resources: [%s, missing.yaml]\n" % base_rel, "", "does not exist"),
        ]
        for what, kust, patch, expect in cases:
            with open(os.path.join(tmp, "kustomization.yaml"), "w", encoding="utf-8") as f:
                f.write(kust)
            with open(os.path.join(tmp, "p.yaml"), "w", encoding="utf-8") as f:
                f.write(patch)
            try:
                resolve(tmp)
                print("self-test: %s was not reported" % what)
                failed += 1
            except Fail as e:
                if expect not in str(e):
                    print("self-test: %s reported as %s" % (what, e))
                    failed += 1
    # Files broken on a copy: docker-compose.yml with a stop_grace_period
    # too short, a JDBC sink keyed by record key without pk.fields.
    def broken_copy(src, load, mutate, dump, check, expect, what):
        with tempfile.TemporaryDirectory() as tmp:
            with open(src, encoding="utf-8") as f:
                doc = load(f)
            mutate(doc)
            p = os.path.join(tmp, os.path.basename(src))
            with open(p, "w", encoding="utf-8") as f:
                dump(doc, f)
            if not any(expect in e for e in check(p, defaults)):
                print("self-test: %s was not reported" % what)
                return 1
        return 0

    def short_grace(doc):
        svc = doc["services"]["ltvstream"]
        svc["stop_grace_period"] = "15s"
        svc["volumes"] = [os.path.join(ROOT, "deploy", "compose", "ltvstream.properties")
                          + ":/etc/x.properties"]

    failed += broken_copy(os.path.join(ROOT, "docker-compose.yml"), yaml.safe_load, short_grace,
                          yaml.safe_dump, check_compose, "stop_grace_period",
                          "a short stop_grace_period")
    sink = sorted(glob.glob(os.path.join(ROOT, "deploy", "connect", "*.json")))[0]
    failed += broken_copy(sink, json.load, lambda d: d["config"].pop("pk.fields"), json.dump,
                          check_connect, "pk.fields", "a JDBC sink without pk.fields")
    failed += broken_copy(sink, json.load,
                          lambda d: d["config"].update(topics=d["config"]["topics"] + ","
                                                       + defaults["topic.lifecycle"]),
                          json.dump, check_connect, "event stream",
                          "a JDBC upsert sink of the lifecycle topic")
    total = len(mutations) + 5
    print("lint_deploy self-test: %d passed, %d failed" % (total - failed, failed))
    return failed == 0


def main():
    if "--self-test" in sys.argv[1:]:
        return 0 if self_test() else 1
    errors = lint()
    for e in errors:
        print("lint_deploy: " + e)
    if not errors:
        print("lint_deploy: %d kustomizations, docker-compose.yml and deploy/connect consistent"
              % len(roots()))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
