"""Model code shared by device, export and companion: the frozen backbone and its loaders."""
