"""Navigation: "take me to my X": routes, spoken guidance, the place graph, the companion client."""
