from otter.test_files import test_case

OK_FORMAT = False

name = "ex04_2"
points = 1

@test_case(points=None, hidden=False, 
    failure_message="compare hot_area[name][d] across the three layers: the smallest hot area is the sharpest")
def test_sharpest(sharpest, hot_area, d):
    from camlib.exercises import expect
    smallest = min(hot_area, key=lambda name: hot_area[name][d])
    expect(sharpest, smallest)

