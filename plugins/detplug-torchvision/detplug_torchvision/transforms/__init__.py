"""transforms (registers into detplug_torchvision.registries)."""
