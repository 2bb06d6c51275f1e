"""The test tiers themselves: the ``gpu`` marker skips exactly where no GPU is visible."""

from pathlib import Path

from tests.conftest import visible_gpus

CONFTEST = Path(__file__).with_name("conftest.py")


def test_gpu_marker_skips_without_a_gpu_and_runs_with_one(pytester):
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.gpu
        def test_needs_a_gpu():
            assert False, "ran"

        def test_anywhere():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs")
    if visible_gpus():
        result.assert_outcomes(passed=1, failed=1)
    else:
        result.assert_outcomes(passed=1, skipped=1)
        result.stdout.fnmatch_lines(["*needs a GPU; TensorFlow sees none*"])
