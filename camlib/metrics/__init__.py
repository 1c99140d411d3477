"""How a map is judged: ``localize`` (boxes, IoU, Top-1 / GT-known Loc, MaxBoxAccV2, PxAP, pointing),
``floors`` (the centre prior, the floor of every localization number), ``faithfulness`` (deletion,
insertion, average drop, ROAD), ``sanity`` (randomization tests) and ``ilsvrc`` (ILSVRC localization as
the CAM paper reports it)."""
