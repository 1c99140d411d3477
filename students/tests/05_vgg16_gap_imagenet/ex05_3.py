from otter.test_files import test_case

OK_FORMAT = False

name = "ex05_3"
points = 1

@test_case(points=None, hidden=False, 
    failure_message="the flat argmax of a 14x14 map is row * 14 + column; each cell is 16 x 16 input pixels")
def test_hottest_box(hottest_box, cat_map):
    assert hottest_box is not ..., 'not answered yet: replace ... with your answer'
    x0, y0, x1, y1 = (int(v) for v in hottest_box)
    assert (x1 - x0, y1 - y0) == (16, 16), f'one cell stands for a 16 x 16 block, got {x1 - x0} x {y1 - y0}'
    assert x0 % 16 == 0 and y0 % 16 == 0 and (0 <= x0 < 224) and (0 <= y0 < 224), 'blocks start at multiples of 16'
    row, column = (y0 // 16, x0 // 16)
    assert cat_map[row, column] == cat_map.max(), f'the block of cell (row {row}, column {column}) is not the hottest'

