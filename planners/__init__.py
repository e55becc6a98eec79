"""Planners (CEM, MPPI, gradient, hierarchical) and the MPC loop; they see world models only
through a small protocol (encode, rollout, distance)."""
