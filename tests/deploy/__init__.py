"""Deploys: the deployer, deploy names and secrets, the gateway's and the CLI's deploys; needs
a real Docker engine and a local registry."""
