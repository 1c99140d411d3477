"""camlib.imagenet: ILSVRC box files (XML and Kaggle CSV), evaluation with several boxes per
image, the paper's table, and the synthetic ILSVRC-format data set. Everything is tiny."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from camlib.data.ilsvrc import (
    Annotation,
    ground_truth,
    read_annotations,
    read_loc_solution_csv,
    read_voc_boxes,
    read_voc_folder,
    scale_boxes,
    write_synthetic_ilsvrc,
)
from camlib.data.photos import imagenet_transform
from camlib.methods.cam import compute_cams
from camlib.metrics.ilsvrc import PAPER_TABLE, ILSVRCPredictions, evaluate_ilsvrc, ilsvrc_cams, ilsvrc_table
from camlib.metrics.localize import box_iou, max_box_acc_v2
from camlib.models import GAPNet

XML = """<annotation>
    <folder>val</folder>
    <filename>ILSVRC2012_val_00000042</filename>
    <source><database>ILSVRC_2012</database></source>
    <size><width>500</width><height>375</height><depth>3</depth></size>
    <segmented>0</segmented>
    <object>
        <name>n01751748</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>
        <bndbox><xmin>1</xmin><ymin>1</ymin><xmax>500</xmax><ymax>40</ymax></bndbox>
    </object>
    <object>
        <name>n01751748</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>
        <bndbox><xmin>11</xmin><ymin>21</ymin><xmax>30</xmax><ymax>35</ymax></bndbox>
    </object>
</annotation>
"""


def _xml_file(tmp_path, text, name="ILSVRC2012_val_00000042.xml"):
    path = tmp_path / name
    path.write_text(text)
    return path


# --------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------


def test_read_voc_boxes_converts_one_based_inclusive(tmp_path):
    size, objects = read_voc_boxes(_xml_file(tmp_path, XML))
    assert size == (500, 375)
    assert [wnid for wnid, _ in objects] == ["n01751748", "n01751748"]
    # xmin 1 .. xmax 500 inclusive is the whole width: [0, 500) continuous.
    assert torch.equal(objects[0][1], torch.tensor([0.0, 0.0, 500.0, 40.0]))
    # columns 11..30 (1-based) are 0-based 10..29, i.e. [10, 30); rows 21..35 -> [20, 35).
    assert torch.equal(objects[1][1], torch.tensor([10.0, 20.0, 30.0, 35.0]))


def test_read_voc_folder_keys_by_stem(tmp_path):
    _xml_file(tmp_path, XML, "b.xml")
    _xml_file(tmp_path, XML.replace("<xmin>11</xmin>", "<xmin>12</xmin>"), "a.xml")
    folder = read_voc_folder(tmp_path)
    assert list(folder) == ["a", "b"]
    assert isinstance(folder["a"], Annotation)
    assert folder["a"].objects[1][1].tolist() == [11.0, 20.0, 30.0, 35.0]


def test_read_loc_solution_csv_two_boxes_one_line(tmp_path):
    path = tmp_path / "LOC_val_solution.csv"
    path.write_text(
        "ImageId,PredictionString\n"
        "ILSVRC2012_val_00000042,n01751748 1 1 500 40 n01751748 11 21 30 35 \n"
        "ILSVRC2012_val_00000043,n09193705 5 6 7 8\n"
    )
    table = read_loc_solution_csv(path)
    assert list(table) == ["ILSVRC2012_val_00000042", "ILSVRC2012_val_00000043"]
    boxes = table["ILSVRC2012_val_00000042"]
    assert [w for w, _ in boxes] == ["n01751748", "n01751748"]
    assert torch.equal(torch.stack([b for _, b in boxes]), torch.tensor([[0.0, 0, 500, 40], [10, 20, 30, 35]]))
    assert table["ILSVRC2012_val_00000043"][0][1].tolist() == [4.0, 5.0, 7.0, 8.0]
    # The same boxes as the XML file.
    _, xml_objects = read_voc_boxes(_xml_file(tmp_path, XML))
    assert all(torch.equal(a[1], b[1]) for a, b in zip(xml_objects, boxes, strict=True))


@pytest.mark.parametrize(
    "text, match",
    [
        ("<annotation><size><width>5</width>", "well-formed"),
        ("<foo/>", "<annotation>"),
        ("<annotation><object><name>n1</name></object></annotation>", "<size>"),
        (XML.replace("<bndbox><xmin>11</xmin>", "<box><xmin>11</xmin>").replace("<ymax>35</ymax></bndbox>",
                                                                                 "<ymax>35</ymax></box>"), "bndbox"),
        (XML.replace("<xmax>30</xmax>", "<xmax>3</xmax>"), "not a VOC box"),
        (XML.replace("<xmin>11</xmin>", "<xmin>eleven</xmin>"), "not a number"),
        (XML.replace("<xmin>11</xmin>", "<xmin>0</xmin>"), "1-based"),
    ],
)
def test_read_voc_boxes_rejects_malformed(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        read_voc_boxes(_xml_file(tmp_path, text))


@pytest.mark.parametrize(
    "text, match",
    [
        ("ILSVRC2012_val_00000042,n01751748 1 1 500 40\n", "header"),
        ("", "header"),
        ("ImageId,PredictionString\nimg,n01751748 1 1 500\n", "multiple of 5|repeated"),
        ("ImageId,PredictionString\nimg,n01751748 1 1 x 40\n", "not numbers"),
        ("ImageId,PredictionString\nimg,n1 1 1 2 2\nimg,n1 1 1 2 2\n", "twice"),
    ],
)
def test_read_loc_solution_csv_rejects_malformed(tmp_path, text, match):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        read_loc_solution_csv(path)


def test_read_voc_folder_rejects_empty(tmp_path):
    with pytest.raises(ValueError, match="no \\*.xml"):
        read_voc_folder(tmp_path)


# --------------------------------------------------------------------------------------
# Geometry and ground truth
# --------------------------------------------------------------------------------------


def test_scale_boxes_by_hand():
    boxes = torch.tensor([[10.0, 20.0, 50.0, 40.0], [0.0, 0.0, 100.0, 50.0]])
    scaled = scale_boxes(boxes, (100, 50), (224, 224))  # x * 2.24, y * 4.48
    assert torch.allclose(scaled, torch.tensor([[22.4, 89.6, 112.0, 179.2], [0.0, 0.0, 224.0, 224.0]]))
    assert torch.allclose(scale_boxes(scaled, (224, 224), (100, 50)), boxes)
    # IoU does not change under the resize.
    other = torch.tensor([[30.0, 10.0, 70.0, 45.0]])
    assert torch.allclose(box_iou(boxes, other), box_iou(scaled, scale_boxes(other, (100, 50), (224, 224))))
    with pytest.raises(ValueError, match="from_size"):
        scale_boxes(boxes, (0, 50), (224, 224))


def test_ground_truth_refuses_mixed_classes_and_unknown_ids():
    box = torch.tensor([0.0, 0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="several classes"):
        ground_truth({"a": [("n1", box), ("n2", box)]}, {"n1": 0, "n2": 1})
    with pytest.raises(ValueError, match="no annotation"):
        ground_truth({"a": [("n1", box)]}, {"n1": 0}, ["b"])
    with pytest.raises(ValueError, match="not in class_to_idx"):
        ground_truth({"a": [("n3", box)]}, {"n1": 0})


# --------------------------------------------------------------------------------------
# Evaluation, counted by hand
# --------------------------------------------------------------------------------------

# Four images, classes 0..9, boxes in a 64 x 64 frame.
TRUE_CLASSES = torch.tensor([3, 7, 2, 9])
TRUE_BOXES = [
    torch.tensor([[0.0, 0, 10, 10], [20, 20, 40, 40]]),
    torch.tensor([[0.0, 0, 10, 8]]),
    torch.tensor([[0.0, 0, 10, 10], [50, 50, 60, 60]]),
    torch.tensor([[0.0, 0, 20, 20], [10, 10, 30, 30]]),
]
TOP5 = torch.tensor([[3, 1, 2, 4, 5], [1, 7, 2, 3, 4], [2, 0, 1, 3, 4], [0, 1, 2, 3, 4]])
FAR = [40.0, 40, 50, 50]
BOXES5 = torch.tensor(
    [
        # right class, box = the *second* gt box (IoU 1): top-1 and top-5 hit
        [[20.0, 20, 40, 40], FAR, FAR, FAR, FAR],
        # guess 0 wrong class with a perfect box; guess 1 right class, IoU 40/80 = 0.5: top-5 hit only
        [[0.0, 0, 10, 8], [0, 0, 10, 4], FAR, FAR, FAR],
        # right class, box overlaps no gt box: miss
        [[30.0, 30, 45, 45], FAR, FAR, FAR, FAR],
        # true class 9 not among the guesses: miss whatever the boxes
        [[0.0, 0, 20, 20]] * 5,
    ]
)
# The true class's box: hits gt 0, IoU 32/88 (miss), hits gt 1, hits gt 1. Even coordinates: halving is exact.
KNOWN = torch.tensor([[0.0, 0, 10, 10], [0, 0, 4, 10], [50, 50, 60, 60], [10, 10, 30, 30]])


def _rect_cams(boxes: torch.Tensor, size: int = 64) -> torch.Tensor:
    """Maps that are 1 inside integer boxes and 0 outside: the 20 % box is the box itself."""
    flat = boxes.reshape(-1, 4).long()
    cams = torch.zeros(flat.shape[0], size, size)
    for cam, (x0, y0, x1, y1) in zip(cams, flat.tolist(), strict=True):
        cam[y0:y1, x0:x1] = 1.0
    return cams.reshape(*boxes.shape[:-1], size, size)


def test_evaluate_ilsvrc_by_hand_with_boxes():
    result = evaluate_ilsvrc(TOP5, BOXES5, TRUE_CLASSES, TRUE_BOXES, true_class=KNOWN)
    assert result["n"] == 4
    assert result["top1_cls"] == pytest.approx(2 / 4)  # images 0, 2
    assert result["top5_cls"] == pytest.approx(3 / 4)  # images 0, 1, 2
    assert result["top1_loc"] == pytest.approx(1 / 4)  # image 0 (through its second box)
    assert result["top5_loc"] == pytest.approx(2 / 4)  # images 0, 1
    assert result["gt_known_loc"] == pytest.approx(3 / 4)  # images 0, 2, 3
    assert result["top1_loc_error"] == pytest.approx(3 / 4)
    assert result["top5_loc_error"] == pytest.approx(2 / 4)
    assert result["top1_cls_error"] == pytest.approx(2 / 4)
    assert result["top5_cls_error"] == pytest.approx(1 / 4)
    assert result["gt_known_loc_error"] == pytest.approx(1 / 4)
    assert "max_box_acc_v2" not in result  # boxes cannot give it


def test_evaluate_ilsvrc_only_first_box_would_miss():
    """Image 0 is a hit only because the best over its gt boxes counts."""
    first_only = [b[:1] for b in TRUE_BOXES]
    result = evaluate_ilsvrc(TOP5, BOXES5, TRUE_CLASSES, first_only, true_class=KNOWN)
    assert result["top1_loc"] == 0.0
    assert result["top5_loc"] == pytest.approx(1 / 4)  # image 1
    # image 0's known box is gt 0 itself; images 2, 3 matched only their second box.
    assert result["gt_known_loc"] == pytest.approx(1 / 4)


def test_evaluate_ilsvrc_from_cams_matches_boxes_and_max_box_acc():
    cams5, known_cams = _rect_cams(BOXES5), _rect_cams(KNOWN)
    from_boxes = evaluate_ilsvrc(TOP5, BOXES5, TRUE_CLASSES, TRUE_BOXES, true_class=KNOWN)
    taus = (0.0, 0.5)  # two CAM thresholds keep the test fast
    from_cams = evaluate_ilsvrc(TOP5, cams5, TRUE_CLASSES, TRUE_BOXES, true_class=known_cams, cam_thresholds=taus)
    for key, value in from_boxes.items():
        assert from_cams[key] == pytest.approx(value), key
    # MaxBoxAccV2: at tau = 0 the box is the whole map, at tau = 0.5 the rectangle; best IoUs
    # 1, 32/88, 1, 1 -> MaxBoxAcc 4/4 at 0.3, 3/4 at 0.5 and 0.7.
    assert from_cams["max_box_acc_v2"] == pytest.approx((1 + 0.75 + 0.75) / 3)
    reference = max_box_acc_v2(known_cams, TRUE_BOXES, cam_thresholds=taus)
    assert from_cams["max_box_acc_v2"] == pytest.approx(reference.mean)
    # Half-resolution maps scaled to the 64 x 64 frame give the same numbers.
    half = evaluate_ilsvrc(TOP5, _rect_cams(BOXES5 / 2, 32), TRUE_CLASSES, TRUE_BOXES,
                           true_class=_rect_cams(KNOWN / 2, 32), image_size=(64, 64), cam_thresholds=taus)
    for key in ("top1_loc", "top5_loc", "gt_known_loc", "max_box_acc_v2"):
        assert half[key] == pytest.approx(from_cams[key]), key


def test_evaluate_ilsvrc_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"top5_classes must be \[N, 5\]"):
        evaluate_ilsvrc(TOP5[:, :4], BOXES5, TRUE_CLASSES, TRUE_BOXES)
    with pytest.raises(ValueError, match="top5 must be"):
        evaluate_ilsvrc(TOP5, BOXES5[:, :4], TRUE_CLASSES, TRUE_BOXES)
    with pytest.raises(ValueError, match="box sets"):
        evaluate_ilsvrc(TOP5, BOXES5, TRUE_CLASSES, TRUE_BOXES[:3])
    with pytest.raises(ValueError, match="holds no box"):
        evaluate_ilsvrc(TOP5, BOXES5, TRUE_CLASSES, [*TRUE_BOXES[:3], torch.zeros(0, 4)])
    with pytest.raises(ValueError, match="true_class must be"):
        evaluate_ilsvrc(TOP5, BOXES5, TRUE_CLASSES, TRUE_BOXES, true_class=KNOWN[:, :3])


# --------------------------------------------------------------------------------------
# The paper's table
# --------------------------------------------------------------------------------------


def test_ilsvrc_table_holds_the_papers_numbers():
    assert PAPER_TABLE["VGGnet-GAP"] == {
        "top1_cls_error": 33.4, "top5_cls_error": 12.2, "top1_loc_error": 57.20, "top5_loc_error": 45.14,
    }
    result = evaluate_ilsvrc(TOP5, BOXES5, TRUE_CLASSES, TRUE_BOXES, true_class=KNOWN)
    table = ilsvrc_table(result, data="hand-made")
    for number in ("33.40", "12.20", "57.20", "45.14", "56.40", "43.00"):
        assert number in table
    lines = table.splitlines()
    assert len(lines) == 2 + len(PAPER_TABLE) + 1
    ours = lines[-1]
    assert ours.startswith("| ours | hand-made |")
    assert "| 50.00 | 25.00 | 75.00 | 50.00 | 25.00 | – | 4 |" in ours
    assert ilsvrc_table({"a": result, "b": result}).count("\n") == len(lines)


# --------------------------------------------------------------------------------------
# Synthetic ILSVRC-format data
# --------------------------------------------------------------------------------------


def _tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_synthetic_ilsvrc_is_deterministic(tmp_path):
    a = write_synthetic_ilsvrc(tmp_path / "a", seed=3)
    b = write_synthetic_ilsvrc(tmp_path / "b", seed=3)
    c = write_synthetic_ilsvrc(tmp_path / "c", seed=4)
    assert _tree(a.root) == _tree(b.root)
    assert _tree(a.root).keys() == _tree(c.root).keys()
    assert _tree(a.root) != _tree(c.root)


def test_synthetic_ilsvrc_reads_everywhere(tmp_path):
    classes = ("n01440764", "n01443537", "n01484850")
    paths = write_synthetic_ilsvrc(tmp_path, classes=classes, images_per_class=2, size=(96, 80), seed=0)
    train = torchvision.datasets.ImageFolder(paths.train)
    val = torchvision.datasets.ImageFolder(paths.val)
    assert train.classes == val.classes == sorted(classes)
    assert len(train) == len(val) == 6
    assert val[0][0].size == (96, 80)

    xml = read_voc_folder(paths.val_boxes)
    solution = read_loc_solution_csv(paths.solution_csv)
    assert list(xml) == list(solution) == [f"ILSVRC2012_val_{k:08d}" for k in range(1, 7)]
    for image_id, annotation in xml.items():
        assert annotation.size == (96, 80)
        assert [w for w, _ in annotation.objects] == [w for w, _ in solution[image_id]]
        for (_, a), (_, b) in zip(annotation.objects, solution[image_id], strict=True):
            assert torch.equal(a, b)
    assert max(len(a.objects) for a in xml.values()) == 2  # some images hold two boxes

    # The boxes sit on the bright rectangles (noise < 96, objects >= 160; JPEG blurs edges).
    for path, label in val.samples:
        image_id = path.rsplit("/", 1)[-1].removesuffix(".JPEG")
        assert xml[image_id].objects[0][0] == val.classes[label]
        pixels = np.asarray(Image.open(path).convert("L"), dtype=np.float32)
        x0, y0, x1, y1 = (int(v) for v in xml[image_id].objects[-1][1].tolist())
        assert pixels[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1].mean() > 130

    # End to end: oracle CAMs of the gt boxes at the 224 x 224 input, five guesses, true class first.
    ids = [path.rsplit("/", 1)[-1].removesuffix(".JPEG") for path, _ in val.samples]
    true_classes, true_boxes = ground_truth(xml, val.class_to_idx, ids, to_size=(224, 224))
    assert true_classes.tolist() == [label for _, label in val.samples]
    assert torch.allclose(true_boxes[0], scale_boxes(torch.stack([b for _, b in xml[ids[0]].objects]),
                                                     (96, 80), (224, 224)))
    cams = torch.stack([_rect_cams(b[:1].round(), 224)[0] for b in true_boxes])
    top5 = torch.stack([(true_classes + k) % 10 for k in range(5)], dim=1)
    result = evaluate_ilsvrc(top5, cams[:, None].expand(-1, 5, -1, -1), true_classes, true_boxes,
                             true_class=cams, cam_thresholds=[0.5])
    assert result["top1_loc"] == result["top5_loc"] == result["gt_known_loc"] == 1.0
    assert result["max_box_acc_v2"] == 1.0  # the best over gt boxes: the first box is in the map
    assert "synthetic" in ilsvrc_table(result, data="synthetic (means nothing)")


def test_synthetic_ilsvrc_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="distinct"):
        write_synthetic_ilsvrc(tmp_path, classes=("n1", "n1"))
    with pytest.raises(ValueError, match="at least"):
        write_synthetic_ilsvrc(tmp_path, size=(4, 80))
    with pytest.raises(ValueError, match="images_per_class"):
        write_synthetic_ilsvrc(tmp_path, images_per_class=0)


# --------------------------------------------------------------------------------------
# read_annotations and ilsvrc_cams: a tiny GAP network over the synthetic val folder
# --------------------------------------------------------------------------------------

WNIDS = ("n01440764", "n01443537", "n01484850", "n01491361", "n01494475", "n01496331")


def test_read_annotations_xml_or_csv_agree(tmp_path):
    data = write_synthetic_ilsvrc(tmp_path, classes=WNIDS[:2], images_per_class=2, size=(40, 32), seed=1)
    paths = sorted(str(p) for p in data.val.rglob("*.JPEG"))
    from_xml = read_annotations(data.root, paths)
    shutil.rmtree(data.val_boxes)  # only the CSV is left: sizes come from the JPEGs
    from_csv = read_annotations(data.root, paths)
    assert list(from_xml) == list(from_csv) == [p.rsplit("/", 1)[-1].removesuffix(".JPEG") for p in paths]
    for image_id, annotation in from_xml.items():
        assert from_csv[image_id].size == annotation.size == (40, 32)
        for (wa, a), (wb, b) in zip(annotation.objects, from_csv[image_id].objects, strict=True):
            assert wa == wb and torch.equal(a, b)
    data.solution_csv.unlink()
    with pytest.raises(FileNotFoundError, match="neither val_boxes"):
        read_annotations(data.root, paths)


def test_ilsvrc_cams_gives_what_evaluate_ilsvrc_needs(tmp_path):
    data = write_synthetic_ilsvrc(tmp_path, classes=WNIDS[:5] + ("n09999999",), images_per_class=2,
                                  size=(40, 32), seed=2)
    # The model knows five of the folders' classes in another order, and one class with no folder.
    class_names = [WNIDS[4], WNIDS[2], "n01000000", WNIDS[0], WNIDS[3], WNIDS[1]]
    torch.manual_seed(0)
    model = GAPNet(in_channels=3, num_classes=6, widths=(4, 8)).eval()
    p = ilsvrc_cams(model, class_names, data.root, 32, batch_size=4, progress=False)
    assert isinstance(p, ILSVRCPredictions) and len(p.paths) == 10  # n09999999's two images are left out
    assert not any("n09999999" in path for path in p.paths)
    assert p.labels.tolist() == [class_names.index(path.split("/")[-2]) for path in p.paths]
    assert p.top5_classes.shape == (10, 5) and p.top5_cams.shape[:2] == (10, 5) and len(p.boxes) == 10
    assert p.true_cams.shape == (10, *p.top5_cams.shape[-2:]) and p.image_size == (32, 32)
    assert all(b.shape[1] == 4 and (b[:, 2:] <= 32).all() for b in p.boxes)  # scaled to the 32 x 32 input

    # The same numbers by hand, for one image.
    image = imagenet_transform(32, crop=False)(Image.open(p.paths[3]).convert("RGB"))[None]
    with torch.no_grad():
        logits, cams = compute_cams(model, image, size=None)
    best = logits[0].topk(5).indices
    assert torch.equal(p.top5_classes[3], best)
    assert torch.allclose(p.top5_cams[3], cams[0, best], atol=1e-6)
    assert torch.allclose(p.true_cams[3], cams[0, p.labels[3]], atol=1e-6)

    result = p.evaluate()
    assert result["n"] == 10 and "max_box_acc_v2" in result
    top5 = result["top5_loc"]
    assert result["top1_loc"] <= top5 and abs(10 * top5 - round(10 * top5)) < 1e-9  # a share of 10 images
    assert len(ilsvrc_cams(model, class_names, data.root, 32, limit=3, progress=False).paths) == 3
    with pytest.raises(ValueError, match="at least 5"):
        ilsvrc_cams(model, class_names[:4], data.root, 32, progress=False)


# --------------------------------------------------------------------------------------
# Faults: boxes outside their image, damaged files, arguments that cannot work
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "old, new, match",
    [
        ("<xmax>500</xmax>", "<xmax>501</xmax>",
         r"#0 \(n01751748\): box \(xmin, ymin, xmax, ymax\) = \(1, 1, 501, 40\) reaches outside its 500 x 375 "
         r"\(W x H\) image"),
        ("<ymax>35</ymax>", "<ymax>376</ymax>", r"#1 \(n01751748\): box .* = \(11, 21, 30, 376\) reaches outside"),
        ("<xmax>30</xmax>", "<xmax>10</xmax>", r"#1 .*is not a VOC box"),  # x_max <= x_min after the conversion
        ("<ymin>21</ymin>", "<ymin>-3</ymin>", r"#1 .*is not a VOC box"),
        ("<xmax>30</xmax>", "<xmax>inf</xmax>", r"not finite"),
        ("<width>500</width>", "<width>0</width>", r"positive integer width"),
        ("<width>500</width>", "<width>-500</width>", r"positive integer width"),
    ],
)
def test_read_voc_boxes_refuses_boxes_outside_the_image_naming_file_box_and_size(tmp_path, old, new, match):
    path = _xml_file(tmp_path, XML.replace(old, new))
    with pytest.raises(ValueError, match=rf"{path} <object>|{path}: <size>|{path}") as error:
        read_voc_boxes(path)
    assert re.search(match, str(error.value)), str(error.value)


def test_read_voc_boxes_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no annotation file .*missing\.xml"):
        read_voc_boxes(tmp_path / "missing.xml")


@pytest.mark.parametrize(
    "row, match",
    [
        ("img,n1 5 5 4 6", r"line 2, object #0 \(img\): box .* = \(5, 5, 4, 6\) is not a VOC box"),
        ("img,n1 1 1 nan 6", r"line 2, object #0 \(img\): box .* is not finite"),
        (",n1 1 1 2 2", r"line 2: the ImageId is empty"),
        ("img,n1 1 1 2 2 n1 1 1 41 2", r"line 2, object #1 \(img\): box .* = \(1, 1, 41, 2\) reaches outside its "
                                       r"40 x 32 \(W x H\) image"),
    ],
)
def test_read_loc_solution_csv_refuses_bad_boxes_naming_the_line(tmp_path, row, match):
    path = tmp_path / "LOC_val_solution.csv"
    path.write_text(f"ImageId,PredictionString\n{row}\n")
    with pytest.raises(ValueError, match=rf"{path}, {match}"):
        read_loc_solution_csv(path, sizes={"img": (40, 32)})


def test_read_loc_solution_csv_takes_a_byte_order_mark_and_refuses_binary(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffImageId,PredictionString\nimg,n1 1 1 2 2\n".encode())
    assert read_loc_solution_csv(path)["img"][0][1].tolist() == [0.0, 0.0, 2.0, 2.0]
    path.write_bytes(b"\xff\xfe\x00\x81binary")
    with pytest.raises(ValueError, match="not a text CSV file"):
        read_loc_solution_csv(path)


def test_read_annotations_checks_boxes_and_sizes_against_the_jpegs(tmp_path):
    data = write_synthetic_ilsvrc(tmp_path / "d", classes=WNIDS[:2], images_per_class=1, size=(40, 32), seed=1)
    paths = sorted(data.val.rglob("*.JPEG"))
    xml = data.val_boxes / f"{paths[0].stem}.xml"
    xml.write_text(xml.read_text().replace("<width>40</width>", "<width>80</width>"))
    with pytest.raises(ValueError, match=rf"{paths[0].stem}.xml gives the size 80 x 32, but the image is 40 x 32"):
        read_annotations(data.root, paths)
    xml.unlink()
    with pytest.raises(FileNotFoundError, match=rf"no annotation file {xml}"):
        read_annotations(data.root, paths)

    shutil.rmtree(data.val_boxes)  # the CSV: its boxes are checked against the JPEGs' sizes
    lines = data.solution_csv.read_text().splitlines()
    wnid, x0, y0, _, y1 = lines[1].split(",")[1].split()[:5]
    lines[1] = f"{lines[1].split(',')[0]},{wnid} {x0} {y0} 41 {y1}"
    data.solution_csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"LOC_val_solution.csv, line 2, object #0 .*reaches outside its 40 x 32"):
        read_annotations(data.root, paths)
    with pytest.raises(FileNotFoundError, match=r"no image file .*nothing\.JPEG"):
        read_annotations(data.root, [tmp_path / "nothing.JPEG"])
    paths[1].write_bytes(b"not a JPEG")
    with pytest.raises(ValueError, match=rf"{paths[1]} cannot be read as an image"):
        read_annotations(data.root, paths[1:])
    with pytest.raises(TypeError, match="a list of image paths"):
        read_annotations(data.root, str(paths[0]))


@pytest.mark.parametrize(
    "change, error, match",
    [
        (dict(true_boxes=[torch.tensor([[0.0, 0, 10, 10]])] * 3 + [torch.tensor([[5.0, 5, 5, 9]])]), ValueError,
         r"true_boxes\[3\] .*x_min < x_max"),
        (dict(true_boxes=[torch.tensor([[0.0, 0, float("nan"), 10]])] * 4), ValueError, r"true_boxes\[0\] .*finite"),
        (dict(top5_classes=TOP5.clone().index_fill_(1, torch.tensor([1]), 3)), ValueError,
         r"top5_classes\[0\] = \[3, 3, 2, 4, 5\] names a class twice"),
        (dict(top5_classes=TOP5.float()), TypeError, r"integer class indices"),
        (dict(top5=BOXES5.clone().fill_(float("nan"))), ValueError, r"top5 holds NaN"),
        (dict(threshold=1.5), ValueError, r"threshold=1\.5: use a fraction in \[0, 1\]"),
        (dict(iou_threshold=0), ValueError, r"iou_threshold=0: use a number in \(0, 1\]"),
    ],
)
def test_evaluate_ilsvrc_refuses_what_would_give_a_silently_wrong_score(change, error, match):
    arguments = dict(top5_classes=TOP5, top5=BOXES5, true_classes=TRUE_CLASSES, true_boxes=TRUE_BOXES) | change
    with pytest.raises(error, match=match):
        evaluate_ilsvrc(**arguments, true_class=KNOWN)


def test_ilsvrc_table_names_results_it_cannot_read():
    with pytest.raises(ValueError, match=r"results\['mine'\] is not a result of evaluate_ilsvrc"):
        ilsvrc_table({"mine": {"top1": 0.5}})
    with pytest.raises(TypeError, match="evaluate_ilsvrc's dict"):
        ilsvrc_table([0.5])


def test_scale_boxes_and_ground_truth_refuse_nan_and_a_lone_string():
    with pytest.raises(ValueError, match="NaN or infinite"):
        scale_boxes(torch.tensor([[0.0, 0, float("nan"), 1]]), (10, 10), (20, 20))
    with pytest.raises(TypeError, match=r"a list of image ids, e.g. \['a'\]"):
        ground_truth({"a": [("n1", torch.tensor([0.0, 0, 1, 1]))]}, {"n1": 0}, "a")


def test_ilsvrc_cams_refuses_arguments_that_cannot_work(tmp_path):
    data = write_synthetic_ilsvrc(tmp_path / "d", classes=WNIDS[:5], images_per_class=1, size=(40, 32), seed=2)
    torch.manual_seed(0)
    model = GAPNet(in_channels=3, num_classes=5, widths=(4, 8)).eval()
    names = list(WNIDS[:5])
    for kwargs, error, match in [
        (dict(class_names=names[:4] + names[:1]), ValueError, r"names \['n01440764'\] more than once"),
        (dict(class_names="n01440764"), TypeError, r"class_names is one string"),
        (dict(limit=0), ValueError, r"limit must be an integer >= 1, got 0"),
        (dict(batch_size=0), ValueError, r"batch_size must be an integer >= 1, got 0"),
        (dict(class_names=[*names, "n09999999"]), ValueError, r"the model has 5 outputs but class_names names 6"),
        (dict(root=tmp_path / "elsewhere"), FileNotFoundError, r"no .*elsewhere/val folder"),
        (dict(model=GAPNet(in_channels=1, num_classes=5, widths=(4, 8))), ValueError, r"takes 1 channels"),
    ]:
        arguments = dict(model=model, class_names=names, root=data.root, size=32, progress=False) | kwargs
        with pytest.raises(error, match=match):
            ilsvrc_cams(**arguments)


def test_write_synthetic_ilsvrc_never_overwrites_a_folder_it_did_not_write(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "LOC_val_solution.csv").write_text("the user's own file")
    with pytest.raises(FileExistsError, match=r"mine is not empty \(LOC_val_solution.csv\) .*new or empty folder"):
        write_synthetic_ilsvrc(tmp_path / "mine")
    assert (tmp_path / "mine" / "LOC_val_solution.csv").read_text() == "the user's own file"
    assert list((tmp_path / "mine").iterdir()) == [tmp_path / "mine" / "LOC_val_solution.csv"]

    # An earlier synthetic set is replaced as a whole: no class of the first call is left behind.
    write_synthetic_ilsvrc(tmp_path / "set", classes=WNIDS[:3], images_per_class=1)
    again = write_synthetic_ilsvrc(tmp_path / "set", classes=WNIDS[3:5], images_per_class=1)
    assert sorted(p.name for p in again.train.iterdir()) == list(WNIDS[3:5])
    assert len(read_voc_folder(again.val_boxes)) == 2

    for classes, match in [(("../escape",), r"a wnid is letters, digits"), (("n1 n2",), r"a wnid is letters"),
                           ("n01440764", r"a list of wnids")]:
        with pytest.raises((ValueError, TypeError), match=match):
            write_synthetic_ilsvrc(tmp_path / "odd", classes=classes)
    assert not (tmp_path / "escape").exists()


# --------------------------------------------------------------------------------------
# Red-team findings
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", ["nan", "inf", "1e400"])
def test_a_size_that_is_not_finite_is_named(tmp_path, width):
    with pytest.raises(ValueError, match="<size> must hold positive integer width and height"):
        read_voc_boxes(_xml_file(tmp_path, XML.replace("<width>500</width>", f"<width>{width}</width>")))


def test_readers_name_paths_sizes_and_fields_they_cannot_take(tmp_path):
    csv_path = tmp_path / "LOC_val_solution.csv"
    csv_path.write_text("ImageId,PredictionString\nimg,n1 1 1 2 2\n")
    for call, error, match in [
        (lambda: read_voc_boxes(None), TypeError, "xml_path must be a file or folder name"),
        (lambda: read_loc_solution_csv(None), TypeError, "path must be a file or folder name"),
        (lambda: read_loc_solution_csv(tmp_path), IsADirectoryError, "is a folder"),
        (lambda: read_loc_solution_csv(csv_path, sizes=[(4, 4)]), TypeError, r"sizes must be a dict"),
        (lambda: read_loc_solution_csv(csv_path, sizes={"img": "big"}), ValueError,
         r"sizes\['img'\] must be a positive integer or a \(W, H\) pair"),
        (lambda: scale_boxes(torch.zeros(1, 4), (10,), (20, 20)), ValueError,
         r"from_size must be a positive integer or a \(W, H\) pair of them, got \(10,\)"),
        (lambda: scale_boxes(None, (10, 10), (20, 20)), TypeError, "boxes must be a tensor"),
        (lambda: scale_boxes(torch.ones(1, 4, dtype=torch.bool), (10, 10), (20, 20)), ValueError, "real numbers"),
        (lambda: write_synthetic_ilsvrc(tmp_path / "s", seed="x"), TypeError, "seed must be an integer, got 'x'"),
    ]:
        with pytest.raises(error, match=match):
            call()
    csv_path.write_text('ImageId,PredictionString\nimg,"' + "x" * 200_000 + '"\n')
    with pytest.raises(ValueError, match="field larger than field limit"):
        read_loc_solution_csv(csv_path)
    assert scale_boxes(torch.tensor([[0.0, 0, 60000, 5]]).half(), (10, 5), (200, 10)).isfinite().all()


def test_ground_truth_and_evaluate_ilsvrc_name_inputs_of_the_wrong_kind():
    with pytest.raises(TypeError, match="annotations and class_to_idx must be dicts"):
        ground_truth({"a": [("n1", torch.zeros(4))]}, ["n1"])
    with pytest.raises(ValueError, match=r"image 'a': its boxes must be \[4\] tensors"):
        ground_truth({"a": [("n1", torch.tensor([0.0, 0, 4]))]}, {"n1": 0})
    for kwargs, error, match in [
        (dict(top5_classes=None), TypeError, "top5_classes must be a tensor"),
        (dict(true_classes=None), TypeError, "true_classes must be a tensor"),
        (dict(true_boxes=None), TypeError, "true_boxes must be a tensor"),
        (dict(top5=list(_rect_cams(BOXES5.reshape(-1, 4)).reshape(4, 5, 64, 64))), TypeError, "torch.stack them"),
        (dict(true_class="cams"), TypeError, "true_class must be a tensor"),
        (dict(true_boxes=[b + 1000 for b in TRUE_BOXES]), ValueError, "lies wholly outside the map"),
    ]:
        arguments = dict(top5_classes=TOP5, top5=_rect_cams(BOXES5.reshape(-1, 4)).reshape(4, 5, 64, 64),
                         true_classes=TRUE_CLASSES, true_boxes=TRUE_BOXES) | kwargs
        with pytest.raises(error, match=match):
            evaluate_ilsvrc(**arguments)


def test_ilsvrc_cams_names_its_model_device_workers_and_a_damaged_image(tmp_path):
    from camlib.data import DataNotFoundError

    data = write_synthetic_ilsvrc(tmp_path / "d", classes=WNIDS[:5], images_per_class=1, size=(40, 32), seed=2)
    torch.manual_seed(0)
    model, names = GAPNet(in_channels=3, num_classes=5, widths=(4, 8)).eval(), list(WNIDS[:5])
    for kwargs, error, match in [(dict(model=None), TypeError, "model must be a torch.nn.Module"),
                                 (dict(workers=-1), ValueError, "workers must be an integer >= 0, got -1"),
                                 (dict(device="gpu"), ValueError, "not a device torch knows")]:
        with pytest.raises(error, match=match):
            ilsvrc_cams(**(dict(model=model, class_names=names, root=data.root, size=32, progress=False) | kwargs))
    broken = next(data.val.rglob("*.JPEG"))
    broken.write_bytes(b"not a jpeg")
    with pytest.raises(DataNotFoundError, match=rf"cannot read the image {broken} .*delete or replace it"):
        ilsvrc_cams(model, names, data.root, 32, progress=False)


def test_ground_truth_names_annotations_that_are_no_pairs_and_class_indices_that_are_no_indices():
    with pytest.raises(ValueError, match=r"image 'a': its annotation must be a list of \(wnid, box\) pairs"):
        ground_truth({"a": "n1 0 0 4 4"}, {"n1": 0})
    for index in (-1, "zero", 1.0):
        with pytest.raises((TypeError, ValueError), match=r"class_to_idx\['n1'\]"):
            ground_truth({"a": [("n1", torch.tensor([0.0, 0, 4, 4]))]}, {"n1": index})
