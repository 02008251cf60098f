"""The fleet subcommands of `cni-operator` (cli.py registers them): parsing and printing only."""

from __future__ import annotations

import argparse
import sys

from . import target_rbac

EXIT_OK, EXIT_INVALID = 0, 1


def add_target_rbac(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "target-rbac", help="print the ServiceAccount and roles fleet mode needs in a target cluster",
        description="Prints, as YAML for kubectl apply, the ServiceAccount, roles and bindings the operator needs in "
        "a target cluster of the given type when it manages it from a management cluster (fleet mode): the chart's "
        "rights for that cluster type without what lives in the management cluster; read only for imported. Apply "
        "it in the target, then put a token of that ServiceAccount in the target's kubeconfig Secret "
        "(docs/fleet.md).")
    parser.add_argument("--cluster-type", required=True, choices=target_rbac.cluster_types(),
                        help="the target's spec.clusterType")
    parser.add_argument("--name", default=target_rbac.DEFAULT_NAME,
                        help=f"name of the ServiceAccount and prefix of the roles (default {target_rbac.DEFAULT_NAME})")
    parser.add_argument("--namespace", default=target_rbac.DEFAULT_NAMESPACE,
                        help=f"namespace of the ServiceAccount (default {target_rbac.DEFAULT_NAMESPACE})")
    parser.add_argument("--token-secret", action="store_true",
                        help="also print a Secret of type kubernetes.io/service-account-token, a long-lived token "
                        "of the ServiceAccount for the kubeconfig")
    parser.set_defaults(func=cmd_target_rbac)


def cmd_target_rbac(args: argparse.Namespace) -> int:
    try:
        text = target_rbac.to_yaml(args.cluster_type, name=args.name, namespace=args.namespace,
                                   with_token_secret=args.token_secret)
    except target_rbac.TargetRBACError as exc:
        print(f"cni-operator target-rbac: {exc}", file=sys.stderr)
        return EXIT_INVALID
    sys.stdout.write(text)
    return EXIT_OK
