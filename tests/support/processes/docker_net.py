"""Addresses on this machine that sandbox containers can reach: the Docker bridge's gateway."""

import ipaddress

import docker


def bridge_gateway() -> str:
    """The host's address on Docker's default bridge (a local address of this machine)."""
    client = docker.from_env(timeout=30)
    try:
        config = client.networks.get("bridge").attrs["IPAM"]["Config"][0]
    finally:
        client.close()
    if config.get("Gateway"):
        return str(config["Gateway"])
    net = ipaddress.ip_network(config["Subnet"])
    return str(next(net.hosts()))
