"""Small programs to copy: each one is run by tests/test_examples.py against FakeYativo."""
