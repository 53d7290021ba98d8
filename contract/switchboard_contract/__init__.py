"""The operator<->agent contract: the config the operator renders and the agent reads, env names, ports."""
