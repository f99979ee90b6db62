"""CodeDeploy: in-place deployments are ours (the appspec's lifecycle into local instances); applications and
deployment groups are kept by moto."""
