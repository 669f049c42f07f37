"""backbones (registers into detplug_torchvision.registries)."""
