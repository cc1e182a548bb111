"""A fixed port that another node holds is refused, never silently shared."""

import pytest

from dev import devchain


def test_start_anvil_on_a_busy_port_refuses_instead_of_sharing_the_other_node():
    with devchain.start_anvil() as first, pytest.raises(RuntimeError, match="already in use"):
        devchain.start_anvil(first.port)
