# libmtsnn registers the operator torch.ops.mtsnn.* when it is loaded. A program that calls the
# operator only through the dispatcher (an AOTInductor package, torch::jit) references no symbol of
# it, and a linker running with --as-needed (the default on some distributions) would then drop it
# and the operator would be missing at run time. mtsnn::mtsnn links libmtsnn through this feature,
# which keeps it whatever the linker's default.
set(CMAKE_LINK_LIBRARY_USING_MTSNN_NO_AS_NEEDED
  "LINKER:--push-state,--no-as-needed" "<LINK_ITEM>" "LINKER:--pop-state")
set(CMAKE_LINK_LIBRARY_USING_MTSNN_NO_AS_NEEDED_SUPPORTED TRUE)
