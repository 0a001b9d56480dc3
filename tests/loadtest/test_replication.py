"""loadtest.replication reads replica lag from GTID positions."""
from loadtest.replication import _seq


def test_lag_is_the_difference_of_gtid_sequence_numbers():
    assert _seq("0-1-42") == 42 and _seq("") == 0
    assert _seq("0-1-61") - _seq("0-1-11") == 50
