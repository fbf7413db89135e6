"""Model code shared by device, export and companion: the frozen backbone, the item belief and
the JEPA latent predictor."""
