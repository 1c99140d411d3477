from otter.test_files import test_case

OK_FORMAT = False

name = "ex01_3"
points = 2

@test_case(points=None, hidden=False, 
    failure_message="M is linear in w: what does negating every weight do to the sum?")
def test_negated_map(M_neg, feats_hand, w_hand):
    from camlib.cam import class_activation_maps
    from camlib.exercises import expect
    want = class_activation_maps(feats_hand, -w_hand)[0, 0]
    expect(M_neg, want)

@test_case(points=None, hidden=False, 
    failure_message="the new maximum is where the old map was lowest")
def test_peak(peak_neg, cam_hand):
    from camlib.exercises import expect
    flat = int((-cam_hand).flatten().argmax())
    want = divmod(flat, cam_hand.shape[-1])
    expect(tuple(peak_neg) if isinstance(peak_neg, list) else peak_neg, want)

