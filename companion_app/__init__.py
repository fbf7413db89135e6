"""The GPU companion server: plans routes in latent space for paired glasses (CEM and gradient
planners through the JEPA predictor), behind pairing and HMAC-signed requests.

Nothing outside this package and its tests imports it: the glasses reach it over HTTP only
(`ami companion serve`; see docs/companion.md)."""
