"""`cni-operator`: run the operator, work offline with a ClusterNetwork file, or preview one against a cluster.

    cni-operator render -f CR.yaml [--version vX.Y.Z]   the manifests the operator would apply, as multi-document YAML
    cni-operator validate -f CR.yaml                    "valid", or one line per problem naming the field (exit 1)
    cni-operator versions [-o table|yaml|json]          the version catalog
    cni-operator crd [--kind RemoteClusterNetwork]      the ClusterNetwork CRD (crds/clusternetworks.yaml), or the
                                                        RemoteClusterNetwork one (crds/remoteclusternetworks.yaml)
    cni-operator target-rbac --cluster-type TYPE        the ServiceAccount and roles fleet mode needs in a target
    cni-operator diff -f CR.yaml [-o text|json]         what the operator would do with CR.yaml on the cluster of
                                                        the current kubeconfig; writes nothing (exit 0 no
                                                        differences, 1 differences, 2 error, 3 it would refuse)
    cni-operator run                                    the operator itself

`-f -` reads standard input. User errors (a missing file, bad YAML, an invalid spec) print one message on stderr
and exit 1 (diff: 2, as its 1 means "differences"), never a traceback; usage errors exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from typing import Any, TextIO

import yaml

from . import __version__, api

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
# diff, as kubectl diff: 1 means "there are differences", so its errors exit 2 and a refused spec 3.
EXIT_DIFFERS, EXIT_DIFF_ERROR, EXIT_REFUSED = 1, 2, 3


class UserError(Exception):
    """Something the user can fix; printed as one line, exit 1."""


# ---------------------------------------------------------------- input


def _read_documents(source: str, stdin: TextIO) -> list[Any]:
    """The non-empty YAML documents of a file, or of stdin for '-'."""
    try:
        if source == "-":
            text = stdin.read()
        else:
            with open(source, encoding="utf-8") as handle:
                text = handle.read()
    except OSError as exc:
        raise UserError(f"cannot read {source}: {exc.strerror or exc}") from None
    name = "<stdin>" if source == "-" else source
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"{name} is not valid YAML{where}: {problem}") from None
    if not documents:
        raise UserError(f"{name} holds no YAML document; expected a {api.KIND}")
    return documents


def _is_cluster_network(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("kind") == api.KIND


# ---------------------------------------------------------------- output


class _Dumper(yaml.SafeDumper):
    """Readable, stable YAML: multi-line strings (CNI config, net-conf.json) as literal blocks, no aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str_representer)


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120)


# ---------------------------------------------------------------- commands


def cmd_validate(args: argparse.Namespace) -> int:
    from .validation import validate_object

    documents = _read_documents(args.filename, sys.stdin)
    # A file of several documents (a zero-touch bundle: CRDs, RBAC, the Deployment, one ClusterNetwork) is checked
    # for its ClusterNetworks; a single document is always checked, so a misspelt kind is reported, not skipped.
    checked = [(i, d) for i, d in enumerate(documents, start=1) if len(documents) == 1 or _is_cluster_network(d)]
    skipped: dict[str, int] = {}
    for doc in documents if len(documents) > 1 else []:
        if not _is_cluster_network(doc):
            kind = str(doc.get("kind") or "(no kind)") if isinstance(doc, dict) else f"({type(doc).__name__})"
            skipped[kind] = skipped.get(kind, 0) + 1
    listing = f"{sum(skipped.values())} document(s): " + ", ".join(f"{n} {k}" for k, n in skipped.items())
    if not checked:
        raise UserError(f"no {api.KIND} document in {args.filename}; it holds {listing}")
    lines = [f"document {i}: {p}" if len(documents) > 1 else str(p) for i, doc in checked for p in validate_object(doc)]
    note = f"skipped {listing} (not {api.KIND})" if skipped else ""
    if lines:
        print("\n".join([*lines, *([note] if note else [])]), file=sys.stderr)
        return EXIT_INVALID
    if len(documents) == 1:
        print("valid")
    else:
        print(f"valid ({len(checked)} {api.KIND}; {note})" if note else f"valid ({len(documents)} documents)")
    return EXIT_OK


def cmd_render(args: argparse.Namespace) -> int:
    from .render import render
    from .validation import validate_object

    documents = _read_documents(args.filename, sys.stdin)
    networks = [doc for doc in documents if _is_cluster_network(doc)]
    if len(networks) != 1:
        found = f"{len(networks)} {api.KIND} documents" if networks else f"no {api.KIND} document"
        raise UserError(f"render takes exactly one {api.KIND}; {args.filename} holds {found}")
    obj = networks[0]
    if args.version is not None:
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
        cni = spec.get("cni") if isinstance(spec.get("cni"), dict) else {}
        obj = {**obj, "spec": {**spec, "cni": {**cni, "version": args.version}}}
    problems = validate_object(obj)
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        return EXIT_INVALID
    spec = api.parse_spec(obj["spec"])
    if spec.provider is None:
        print(
            f"clusterType {spec.cluster_type.value}: the operator never installs or changes the CNI of an imported "
            "cluster, it only reports the health of the one it finds; nothing to render.",
            file=sys.stderr,
        )
        return EXIT_OK
    rendered = render(spec)
    out = [
        f"# cni-operator render: {rendered.provider.value} {rendered.version}, {len(rendered.apply)} objects\n"
    ]
    out.extend("---\n" + dump_yaml(item) for item in rendered.apply)
    sys.stdout.write("".join(out))
    return EXIT_OK


def _catalog_rows() -> list[dict]:
    """One row per provider and version: default?, its minor line, newest patch of that line?, deprecated (why)."""
    from .catalog import load_catalog

    catalog = load_catalog()
    rows = []
    for provider in api.Provider:
        newest = set(catalog.newest_patches(provider).values())
        for version in catalog.versions(provider):
            entry = catalog.entry(provider, version)
            rows.append({
                "provider": provider.value,
                "version": version,
                "default": version == catalog.defaults[provider],
                "line": entry.minor_line,
                "newestPatch": version in newest,
                "deprecated": entry.deprecated,
                "images": dict(entry.images),
            })
    return rows


def _status(row: dict) -> str:
    if row["deprecated"]:
        return "deprecated"
    return f"newest {row['line']}" if row["newestPatch"] else ""


def _print_table(rows: list[dict]) -> None:
    header = ("PROVIDER", "VERSION", "DEFAULT", "STATUS", "IMAGES")
    table: list[tuple[str, ...]] = []
    for row in rows:
        images = list(row["images"].values()) or [""]
        table.append((row["provider"], row["version"], "*" if row["default"] else "", _status(row), images[0]))
        table.extend(("", "", "", "", image) for image in images[1:])
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(4)]
    for r in [header, *table]:
        print("  ".join(cell.ljust(width) for cell, width in zip(r[:4], widths)) + "  " + r[4])


def cmd_versions(args: argparse.Namespace) -> int:
    rows = _catalog_rows()
    if args.output == "json":
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    if args.output == "yaml":
        sys.stdout.write(dump_yaml(rows))
        return EXIT_OK
    _print_table(rows)
    deprecated = [row for row in rows if row["deprecated"]]
    if deprecated:
        # Wrapped at the reason's words, indented under it: the reasons are sentences, too long for a column.
        print("\nDeprecated (running clusters keep them and upgrade from them; new installs should not pick them):")
        for row in deprecated:
            print(textwrap.fill(row["deprecated"], width=118, initial_indent=f"  {row['provider']} {row['version']}: ",
                                subsequent_indent="    "))
    print("\nA ClusterNetwork without spec.cni.version installs the default (*) and then keeps the version it installed.")
    if any(row["provider"] == api.Provider.AWS_VPC_CNI.value for row in rows):
        print("aws-vpc-cni images are pulled from the ECR registry of spec.awsVpcCni.region, or from spec.registry.")
    return EXIT_OK


def cmd_crd(args: argparse.Namespace) -> int:
    if args.kind == "RemoteClusterNetwork":
        from .schema.remote import to_yaml
    else:
        from .schema.crd import to_yaml

    sys.stdout.write(to_yaml())
    return EXIT_OK


def cmd_docs(args: argparse.Namespace) -> int:
    from .schema.apidocs import to_markdown

    sys.stdout.write(to_markdown())
    return EXIT_OK


def _registry_policy(flag: str | None):
    """The registry policy from --allowed-registries or the environment variable, as `run` reads it."""
    from .registry_policy import ENV, PolicyError, RegistryPolicy

    if flag is not None:
        os.environ[ENV] = flag  # the session reads the policy from there
    try:
        return RegistryPolicy.from_env()
    except PolicyError as exc:
        raise UserError(f"{ENV if flag is None else '--allowed-registries'}: {exc}") from None


def cmd_diff(args: argparse.Namespace) -> int:
    from .registry_policy import ENV

    documents = _read_documents(args.filename, sys.stdin)
    if len(documents) != 1:
        raise UserError(f"diff takes exactly one {api.KIND}; {args.filename} holds {len(documents)} documents")
    given = args.allowed_registries is not None or bool(os.environ.get(ENV))
    policy = _registry_policy(args.allowed_registries) if given else None
    import kubernetes
    import urllib3

    from . import kube, preview

    try:
        client = kube.Kube(kube.load_api_client())
        result = preview.preview(client, documents[0], policy)
    except kube.KubeError as exc:
        raise UserError(f"the API server refused a read or a dry-run apply: {exc}") from None
    except (kubernetes.config.ConfigException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise UserError(f"cannot reach the cluster of the current kubeconfig: {exc}") from None
    if args.output == "json":
        print(json.dumps(result.as_json(), indent=2))
    else:
        sys.stdout.write(preview.format_text(result))
    if result.refused:
        return EXIT_REFUSED
    return EXIT_DIFFERS if result.differs else EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    # The cluster comes from KUBECONFIG (or ~/.kube/config), or the pod's service account in a cluster.
    _registry_policy(args.allowed_registries)  # a bad entry stops the start, rather than every pass
    try:
        from . import runner  # imports kopf and cni_operator.handlers itself
    except ImportError as exc:
        raise UserError(f"the operator runtime cannot start: {exc}") from None
    try:
        return int(runner.run(
            standalone=args.standalone, health_port=args.health_port, health_address=args.health_bind_address,
            metrics_port=args.metrics_port, metrics_address=args.metrics_bind_address, priority=args.priority,
            verbose=args.verbose, fleet=args.fleet, watch_namespaces=tuple(args.watch_namespace or ()),
            allow_unsafe_kubeconfigs=args.allow_unsafe_kubeconfigs, lease_namespace=args.lease_namespace) or 0)
    except runner.StartupError as exc:
        raise UserError(str(exc)) from None


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cni-operator",
        description="Installs, upgrades, heals and reports the pod network (Canal or the AWS VPC CNI).",
    )
    parser.add_argument("--version", action="version", version=f"cni-operator {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="{run,render,validate,diff,versions,crd,target-rbac}"
    )

    run = commands.add_parser(
        "run", help="run the operator (in a cluster, or against the current kubeconfig)"
    )
    run.add_argument("--standalone", action="store_true", help="no peering: only for a single replica")
    run.add_argument("--health-port", type=int, default=None,
                     help="/healthz port (default $CNI_OPERATOR_HEALTH_PORT, else 8080); 0 turns it off")
    run.add_argument("--health-bind-address", default=None, metavar="IP",
                     help="address /healthz listens on (default $CNI_OPERATOR_HEALTH_BIND_ADDRESS, else 127.0.0.1)")
    run.add_argument("--metrics-port", type=int, default=None,
                     help="/metrics port (default $CNI_OPERATOR_METRICS_PORT, else off)")
    run.add_argument("--metrics-bind-address", default=None, metavar="IP",
                     help="address /metrics listens on (default $CNI_OPERATOR_METRICS_BIND_ADDRESS, else 127.0.0.1)")
    run.add_argument("--priority", type=int, default=None, help="peering priority (default random)")
    run.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    run.add_argument("--allowed-registries", default=None, metavar="LIST",
                     help="comma-separated registries the CNI's images may come from (host[:port][/path], or "
                     "catalog); default: $CNI_OPERATOR_ALLOWED_REGISTRIES, else the catalog's registries")
    run.add_argument("--fleet", action="store_true", help="fleet mode: serve RemoteClusterNetworks (docs/fleet.md)")
    run.add_argument("--watch-namespace", action="append", metavar="NS",
                     help="fleet mode: serve RemoteClusterNetworks in NS only (repeatable; default: every namespace)")
    run.add_argument("--allow-unsafe-kubeconfigs", action="store_true",
                     help="fleet mode: accept kubeconfigs that run commands, read files or skip TLS verification")
    run.add_argument("--lease-namespace", default=None, metavar="NS",
                     help="fleet mode: namespace of the Lease (default: $POD_NAMESPACE, else cni-operator)")
    run.set_defaults(func=cmd_run)

    render = commands.add_parser("render", help="print the manifests a ClusterNetwork renders to, as YAML")
    render.add_argument("-f", "--filename", required=True, help="ClusterNetwork YAML file, or - for stdin")
    render.add_argument(
        "--version",
        dest="version",
        default=None,
        metavar="vX.Y.Z",
        help="render this catalog version instead of spec.cni.version",
    )
    render.set_defaults(func=cmd_render)

    validate = commands.add_parser("validate", help="check a ClusterNetwork file; one line per problem")
    validate.add_argument("-f", "--filename", required=True, help="ClusterNetwork YAML file, or - for stdin")
    validate.set_defaults(func=cmd_validate)

    diff = commands.add_parser(
        "diff", help="what the operator would do with a ClusterNetwork on the current cluster; writes nothing",
        description="Compares a ClusterNetwork file with the cluster of the current kubeconfig: the objects the "
        "operator would create or change (server-side apply dry runs as field manager cni-operator), those it would "
        "prune, the CRDs it would keep for their objects, and whether it would refuse the spec. Exit 0: no "
        "differences, 1: differences, 2: an error, 3: the operator would refuse the spec.")
    diff.add_argument("-f", "--filename", required=True, help="ClusterNetwork YAML file, or - for stdin")
    diff.add_argument("-o", "--output", choices=("text", "json"), default="text")
    diff.add_argument("--allowed-registries", default=None, metavar="LIST",
                      help="the operator's registry policy, as for run (default: $CNI_OPERATOR_ALLOWED_REGISTRIES; "
                      "unset: not checked)")
    diff.set_defaults(func=cmd_diff, error_exit=EXIT_DIFF_ERROR)

    versions = commands.add_parser("versions", help="list the version catalog")
    versions.add_argument("-o", "--output", choices=("table", "yaml", "json"), default="table")
    versions.set_defaults(func=cmd_versions)

    crd = commands.add_parser("crd", help="print the ClusterNetwork (or RemoteClusterNetwork) CRD")
    crd.add_argument("--kind", choices=("ClusterNetwork", "RemoteClusterNetwork"), default="ClusterNetwork")
    crd.set_defaults(func=cmd_crd)

    from .fleet.commands import add_target_rbac  # fleet mode's subcommands live with fleet mode

    add_target_rbac(commands)

    docs = commands.add_parser("docs")  # hidden: regenerates docs/api.md
    docs.set_defaults(func=cmd_docs)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as exc:
        print(f"cni-operator {args.command}: {exc}", file=sys.stderr)
        return getattr(args, "error_exit", EXIT_INVALID)
    except BrokenPipeError:
        # `cni-operator render ... | head`: the reader left; exit quietly without a traceback at shutdown.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
