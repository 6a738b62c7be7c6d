"""Local, protocol-faithful stand-ins for the payment services billing talks to."""
