"""cni-operator: owns the pod network of a Kubernetes cluster (Canal or the AWS VPC CNI)."""

__version__ = "0.1.0"
