"""Exercise scenarios: real geography, scenario files and their replay as ingress events."""
