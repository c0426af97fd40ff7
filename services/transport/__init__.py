"""Transport service: the multimodal network, the fleet, and what disruptions do to them."""
