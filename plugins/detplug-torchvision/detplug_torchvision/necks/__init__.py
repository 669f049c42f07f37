"""necks (registers into detplug_torchvision.registries)."""
