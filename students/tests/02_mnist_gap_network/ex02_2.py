from otter.test_files import test_case

OK_FORMAT = False

name = "ex02_2"
points = 1

@test_case(points=None, hidden=False, 
    failure_message="a digit's top probability is the largest of its ten softmax probabilities; the least sure digit is the one whose top probability is smallest")
def test_least_sure(least_sure, probabilities):
    assert least_sure is not ..., 'not answered yet: replace ... with your answer'
    import operator
    n = len(probabilities)
    try:
        least_sure = operator.index(least_sure)
    except TypeError:
        raise AssertionError(f'an index into images: a whole number from 0 to {n - 1}, got {least_sure!r}') from None
    assert 0 <= least_sure < n, f'an index into images: a whole number from 0 to {n - 1}, got {least_sure}'
    top = probabilities.max(dim=1).values
    assert top[least_sure] <= top.median(), f"digit {least_sure}'s top probability, {float(top[least_sure]):.3f}, is above the batch's median: that is a sure digit, not the least sure"

