from otter.test_files import test_case

OK_FORMAT = False

name = "ex03_3"
points = 2

@test_case(points=None, hidden=False, 
    failure_message="keep cam >= threshold * cam.max(); label with structure=np.ones((3, 3)); keep the largest component (labels start at 1, 0 is background); the max is exclusive: add 1")
def test_boxes_of_four_small_maps(my_box):
    import torch
    from camlib.lab.exercises import expect_fingerprint
    maps = torch.zeros(4, 8, 8)
    maps[0, 2, 5] = 1.0
    maps[1, 1, 1] = maps[1, 2, 2] = maps[1, 3, 3] = 1.0
    maps[1, 6, 5] = maps[1, 6, 6] = 1.0
    maps[2, 0, 0], maps[2, 0, 1] = (1.0, 0.2)
    maps[3, 4, 4], maps[3, 4, 5] = (5.0, 1.2)
    maps[3, 0, :3] = 0.5
    digests = ['1b725190b952e3f7', 'd5a74bd1de3d8742', '0c631f33bd495e28', '37138ac86167350e']
    for index, (cam, digest) in enumerate(zip(maps, digests)):
        box = my_box(cam, 0.2)
        assert box is not None and box is not ..., 'not answered yet: my_box returns nothing'
        try:
            expect_fingerprint(torch.as_tensor(box, dtype=torch.float32).reshape(-1), digest, shape=(4,))
        except AssertionError as error:
            raise AssertionError(f'small map {index} (see the comments of this test): {error}') from None

