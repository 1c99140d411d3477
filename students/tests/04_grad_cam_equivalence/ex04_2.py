from otter.test_files import test_case

OK_FORMAT = False

name = "ex04_2"
points = 1

@test_case(points=None, hidden=False, 
    failure_message="for each digit d of ds, compare hot_area[name][d] across the three layers: the smallest hot area is the sharpest")
def test_sharpest(sharpest, ds, hot_area):
    assert sharpest is not ..., 'not answered yet: replace ... with your answer'
    assert isinstance(sharpest, list | tuple) and len(sharpest) == len(ds), f'a list of {len(ds)} layer names, one per digit of ds, got {sharpest!r}'[:200]
    unknown = [name for name in sharpest if name not in hot_area]
    assert not unknown, f'{unknown[0]!r} is not a layer name: use {list(hot_area)}'

